// Rate limits like Qualtrics': a leaky bucket per brand (3,000 requests/minute by default), optional
// per-endpoint buckets, and a bucket per workflow trigger. Time comes from the injected clock.

import { Issues, isRecord, optionalBoolean, optionalInteger, optionalString } from './check'
import type { Clock } from './clock'
import { SandboxError } from './errors'
import { compileTarget, type RequestTarget } from './pattern'
import { ROUTE_NAMES } from './routes'

export interface EndpointRateLimit {
  /** HTTP method, `*` or omitted for any. */
  method?: string
  /** Path glob (`*` one segment, `**` any), e.g. `/API/v3/directories/*\/contacts`. */
  path?: string
  /** Route name(s), e.g. `createContact`. */
  route?: string | string[]
  perMinute: number
  /** Bucket size (how many requests may arrive at once). Default: `perMinute`. */
  burst?: number
}

export interface RateLimitOptions {
  /** Default true. */
  enabled?: boolean
  /** Brand-wide requests per minute. Default 3000. */
  perMinute?: number
  /** Brand bucket size. Default: `perMinute`. */
  burst?: number
  /** Send `Retry-After` (seconds) with 429s. Default true. */
  retryAfter?: boolean
  /** Extra limits for some endpoints (per brand), checked besides the brand limit. */
  endpoints?: EndpointRateLimit[]
  /** JSON-event calls per minute per workflow trigger. Default 3000. */
  workflowPerMinute?: number
}

export interface ResolvedRateLimit {
  enabled: boolean
  perMinute: number
  burst: number
  retryAfter: boolean
  endpoints: Array<EndpointRateLimit & { burst: number }>
  workflowPerMinute: number
}

export const DEFAULT_PER_MINUTE = 3000

export function parseRateLimitOptions(value: unknown, path = 'rateLimit'): RateLimitOptions {
  const issues = new Issues()
  const out: RateLimitOptions = {}
  if (!isRecord(value)) {
    issues.add(path, 'must be an object', value)
    throw new SandboxError('INVALID_RATE_LIMIT', issues.format('Invalid rate limit'))
  }
  const enabled = optionalBoolean(value, 'enabled', path, issues)
  if (enabled !== undefined) out.enabled = enabled
  const retryAfter = optionalBoolean(value, 'retryAfter', path, issues)
  if (retryAfter !== undefined) out.retryAfter = retryAfter
  for (const key of ['perMinute', 'burst', 'workflowPerMinute'] as const) {
    const n = optionalInteger(value, key, path, issues, { min: 1 })
    if (n !== undefined) out[key] = n
  }
  const endpoints = value['endpoints']
  if (endpoints !== undefined) {
    if (!Array.isArray(endpoints)) issues.add(`${path}.endpoints`, 'must be an array', endpoints)
    else {
      out.endpoints = []
      endpoints.forEach((raw, i) => {
        const p = `${path}.endpoints[${i}]`
        if (!isRecord(raw)) return issues.add(p, 'must be an object', raw)
        const perMinute = optionalInteger(raw, 'perMinute', p, issues, { min: 1 })
        if (perMinute === undefined && raw['perMinute'] === undefined)
          issues.add(`${p}.perMinute`, 'is required')
        const limit: EndpointRateLimit = { perMinute: perMinute ?? 1 }
        const burst = optionalInteger(raw, 'burst', p, issues, { min: 1 })
        if (burst !== undefined) limit.burst = burst
        const method = optionalString(raw, 'method', p, issues)
        if (method !== undefined) limit.method = method
        const pathGlob = optionalString(raw, 'path', p, issues)
        if (pathGlob !== undefined) limit.path = pathGlob
        const route = raw['route']
        if (route !== undefined) {
          const names = Array.isArray(route) ? route : [route]
          if (names.every((n): n is string => typeof n === 'string' && ROUTE_NAMES.includes(n)))
            limit.route = route as string | string[]
          else
            issues.add(
              `${p}.route`,
              `must be a route name or a list of them (${ROUTE_NAMES.join(', ')})`,
              route,
            )
        }
        out.endpoints?.push(limit)
      })
    }
  }
  if (!issues.empty) throw new SandboxError('INVALID_RATE_LIMIT', issues.format('Invalid rate limit'))
  return out
}

export function resolveRateLimit(options: RateLimitOptions = {}): ResolvedRateLimit {
  const perMinute = options.perMinute ?? DEFAULT_PER_MINUTE
  return {
    enabled: options.enabled ?? true,
    perMinute,
    burst: options.burst ?? perMinute,
    retryAfter: options.retryAfter ?? true,
    endpoints: (options.endpoints ?? []).map((e) => ({ ...e, burst: e.burst ?? e.perMinute })),
    workflowPerMinute: options.workflowPerMinute ?? DEFAULT_PER_MINUTE,
  }
}

export type RateDecision =
  | { ok: true }
  | { ok: false; scope: 'brand' | 'endpoint' | 'workflow'; perMinute: number; retryAfterSeconds: number }

interface Bucket {
  level: number
  at: number
}

export interface RateLimiter {
  readonly config: ResolvedRateLimit
  /** Checks (and, when allowed, counts) one API request of a brand. */
  checkApi(brandId: string, target: RequestTarget): RateDecision
  /** Checks (and counts) one JSON-event call of a workflow trigger. */
  checkWorkflow(urlTokenId: string): RateDecision
  /** Seconds until one more request of a brand would pass (for a forced 429). */
  retryAfterFor(brandId: string): number
}

export function createRateLimiter(options: RateLimitOptions | undefined, clock: Clock): RateLimiter {
  const config = resolveRateLimit(options)
  const buckets = new Map<string, Bucket>()
  const endpointMatchers = config.endpoints.map((e) => compileTarget(e))

  interface Slot {
    key: string
    perMinute: number
    burst: number
    scope: 'brand' | 'endpoint' | 'workflow'
  }
  const levelOf = (slot: Slot, now: number): number => {
    const bucket = buckets.get(slot.key)
    if (!bucket) return 0
    const drained = ((now - bucket.at) * slot.perMinute) / 60_000
    return Math.max(0, bucket.level - drained)
  }
  const waitSeconds = (slot: Slot, level: number): number =>
    Math.max(1, Math.ceil(((level + 1 - slot.burst) * 60) / slot.perMinute))

  const take = (slots: Slot[]): RateDecision => {
    if (!config.enabled) return { ok: true }
    const now = clock()
    const levels = slots.map((slot) => levelOf(slot, now))
    for (const [i, slot] of slots.entries()) {
      const level = levels[i] ?? 0
      if (level + 1 > slot.burst) {
        return {
          ok: false,
          scope: slot.scope,
          perMinute: slot.perMinute,
          retryAfterSeconds: waitSeconds(slot, level),
        }
      }
    }
    slots.forEach((slot, i) => buckets.set(slot.key, { level: (levels[i] ?? 0) + 1, at: now }))
    return { ok: true }
  }

  const brandSlot = (brandId: string): Slot => ({
    key: `brand|${brandId}`,
    perMinute: config.perMinute,
    burst: config.burst,
    scope: 'brand',
  })

  return {
    config,
    checkApi(brandId, target) {
      const slots: Slot[] = [brandSlot(brandId)]
      config.endpoints.forEach((limit, i) => {
        if (endpointMatchers[i]?.(target)) {
          slots.push({
            key: `endpoint|${i}|${brandId}`,
            perMinute: limit.perMinute,
            burst: limit.burst,
            scope: 'endpoint',
          })
        }
      })
      return take(slots)
    },
    checkWorkflow(urlTokenId) {
      const perMinute = config.workflowPerMinute
      return take([
        { key: `workflow|${urlTokenId.toLowerCase()}`, perMinute, burst: perMinute, scope: 'workflow' },
      ])
    },
    retryAfterFor(brandId) {
      const slot = brandSlot(brandId)
      return waitSeconds(slot, Math.max(levelOf(slot, clock()), slot.burst))
    },
  }
}
