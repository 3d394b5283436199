// Fault injection: rules targeted by method / path glob / route name, fired every time, the next N
// times, after N passes, or with a probability drawn from a seeded generator.

import { Issues, isRecord, optionalBoolean, optionalInteger, optionalString } from './check'
import { SandboxError } from './errors'
import { compileTarget, type RequestTarget } from './pattern'
import type { Random } from './random'
import { ROUTE_NAMES, type RouteName } from './routes'

export interface FaultTarget {
  /** HTTP method; omitted or `*` for any. */
  method?: string
  /** Path glob: `*` within a segment, `**` across segments, e.g. `/API/v3/directories/*\/transactions`. */
  path?: string
  /** Route name(s), e.g. `createTransactions`. */
  route?: string | string[]
  /** Fire at most this many times (then the rule stays listed but inactive). Default: unlimited. */
  times?: number
  /** Let the first N matching requests pass before firing. Default 0. */
  skip?: number
  /** Chance (0–1) to fire on a matching request, drawn from the seeded generator. Default 1. */
  probability?: number
}

export type FaultRule = FaultTarget &
  (
    | {
        /** Answer an error envelope with this status; 5xx carry `instanceId`. */
        kind: 'http-error'
        status: number
        errorCode?: string
        errorMessage?: string
        /** Apply the request first (the write happens), then answer the error. Default: true for 504. */
        afterWrite?: boolean
      }
    | { /** Delay the answer; the request is then served normally. */ kind: 'latency'; ms: number }
    | {
        /** Hold the request open for `ms` (default 15000, longer than Segment's 10 s), then drop the connection. */
        kind: 'timeout'
        ms?: number
        afterWrite?: boolean
      }
    | { /** Drop the connection without an answer. */ kind: 'disconnect'; afterWrite?: boolean }
    | { /** Answer 429 as if the bucket were full. */ kind: 'rate-limit'; retryAfterSeconds?: number }
    | {
        /** Answer a body that is not JSON (default an HTML page as text/html, status 200). */
        kind: 'non-json'
        status?: number
        body?: string
        contentType?: string
        /** Default true. */
        afterWrite?: boolean
      }
    | {
        /** Answer JSON without the envelope (default `{}`, status 200). */
        kind: 'no-envelope'
        status?: number
        body?: unknown
        /** Default true. */
        afterWrite?: boolean
      }
    | {
        /** Contact search returns at least `count` (default 2) matches, creating real duplicates as needed. */
        kind: 'duplicate-search-match'
        count?: number
      }
    | {
        /** The last `count` (default 1) valid transactions of a request are reported unprocessed and not written. */
        kind: 'partial-unprocessed'
        count?: number
        errorCode?: string
        errorMessage?: string
      }
  )

export type FaultRules = FaultRule[]
export type FaultKind = FaultRule['kind']

export const FAULT_KINDS: readonly FaultKind[] = [
  'http-error',
  'latency',
  'timeout',
  'disconnect',
  'rate-limit',
  'non-json',
  'no-envelope',
  'duplicate-search-match',
  'partial-unprocessed',
]

/** Faults that only make sense on one route are restricted to it. */
const IMPLIED_ROUTE: Partial<Record<FaultKind, RouteName>> = {
  'duplicate-search-match': 'searchContacts',
  'partial-unprocessed': 'createTransactions',
}

export function parseFaultRules(value: unknown, path = 'faults'): FaultRules {
  const issues = new Issues()
  if (!Array.isArray(value)) {
    issues.add(path, 'must be an array of fault rules', value)
    throw new SandboxError('INVALID_FAULT_RULE', issues.format('Invalid fault rules'))
  }
  const rules: FaultRules = []
  value.forEach((raw, i) => {
    const p = `${path}[${i}]`
    if (!isRecord(raw)) return issues.add(p, 'must be an object', raw)
    const kind = raw['kind']
    if (typeof kind !== 'string' || !(FAULT_KINDS as readonly string[]).includes(kind)) {
      return issues.add(`${p}.kind`, `must be one of ${FAULT_KINDS.join(', ')}`, kind)
    }
    const target: FaultTarget = {}
    const method = optionalString(raw, 'method', p, issues)
    if (method !== undefined) target.method = method
    const glob = optionalString(raw, 'path', p, issues)
    if (glob !== undefined) target.path = glob
    const route = raw['route']
    if (route !== undefined) {
      const names = Array.isArray(route) ? route : [route]
      if (
        names.length > 0 &&
        names.every((n): n is string => typeof n === 'string' && ROUTE_NAMES.includes(n))
      ) {
        target.route = route as string | string[]
      } else
        issues.add(`${p}.route`, `must be a route name or a list of them (${ROUTE_NAMES.join(', ')})`, route)
    }
    const times = optionalInteger(raw, 'times', p, issues, { min: 1 })
    if (times !== undefined) target.times = times
    const skip = optionalInteger(raw, 'skip', p, issues, { min: 0 })
    if (skip !== undefined) target.skip = skip
    const probability = raw['probability']
    if (probability !== undefined) {
      if (typeof probability === 'number' && probability >= 0 && probability <= 1)
        target.probability = probability
      else issues.add(`${p}.probability`, 'must be a number from 0 to 1', probability)
    }
    const afterWrite = optionalBoolean(raw, 'afterWrite', p, issues)
    const withAfterWrite = afterWrite === undefined ? {} : { afterWrite }
    switch (kind as FaultKind) {
      case 'http-error': {
        const status = optionalInteger(raw, 'status', p, issues, { min: 400, max: 599 })
        if (raw['status'] === undefined) issues.add(`${p}.status`, 'is required (400–599)')
        const errorCode = optionalString(raw, 'errorCode', p, issues)
        const errorMessage = optionalString(raw, 'errorMessage', p, issues)
        rules.push({
          ...target,
          kind: 'http-error',
          status: status ?? 500,
          ...(errorCode === undefined ? {} : { errorCode }),
          ...(errorMessage === undefined ? {} : { errorMessage }),
          ...withAfterWrite,
        })
        break
      }
      case 'latency': {
        const ms = optionalInteger(raw, 'ms', p, issues, { min: 0, max: 600_000 })
        if (raw['ms'] === undefined) issues.add(`${p}.ms`, 'is required')
        rules.push({ ...target, kind: 'latency', ms: ms ?? 0 })
        break
      }
      case 'timeout': {
        const ms = optionalInteger(raw, 'ms', p, issues, { min: 0, max: 600_000 })
        rules.push({ ...target, kind: 'timeout', ...(ms === undefined ? {} : { ms }), ...withAfterWrite })
        break
      }
      case 'disconnect':
        rules.push({ ...target, kind: 'disconnect', ...withAfterWrite })
        break
      case 'rate-limit': {
        const retryAfterSeconds = optionalInteger(raw, 'retryAfterSeconds', p, issues, { min: 0 })
        rules.push({
          ...target,
          kind: 'rate-limit',
          ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
        })
        break
      }
      case 'non-json': {
        const status = optionalInteger(raw, 'status', p, issues, { min: 100, max: 599 })
        const body = optionalString(raw, 'body', p, issues)
        const contentType = optionalString(raw, 'contentType', p, issues)
        rules.push({
          ...target,
          kind: 'non-json',
          ...(status === undefined ? {} : { status }),
          ...(body === undefined ? {} : { body }),
          ...(contentType === undefined ? {} : { contentType }),
          ...withAfterWrite,
        })
        break
      }
      case 'no-envelope': {
        const status = optionalInteger(raw, 'status', p, issues, { min: 100, max: 599 })
        rules.push({
          ...target,
          kind: 'no-envelope',
          ...(status === undefined ? {} : { status }),
          ...('body' in raw ? { body: raw['body'] } : {}),
          ...withAfterWrite,
        })
        break
      }
      case 'duplicate-search-match': {
        const count = optionalInteger(raw, 'count', p, issues, { min: 2, max: 100 })
        rules.push({ ...target, kind: 'duplicate-search-match', ...(count === undefined ? {} : { count }) })
        break
      }
      case 'partial-unprocessed': {
        const count = optionalInteger(raw, 'count', p, issues, { min: 1 })
        const errorCode = optionalString(raw, 'errorCode', p, issues)
        const errorMessage = optionalString(raw, 'errorMessage', p, issues)
        rules.push({
          ...target,
          kind: 'partial-unprocessed',
          ...(count === undefined ? {} : { count }),
          ...(errorCode === undefined ? {} : { errorCode }),
          ...(errorMessage === undefined ? {} : { errorMessage }),
        })
        break
      }
    }
  })
  if (!issues.empty) throw new SandboxError('INVALID_FAULT_RULE', issues.format('Invalid fault rules'))
  return rules
}

/** Whether a fault lets the real handler run first (so a write is applied before the fault answers). */
export function appliesWrite(rule: FaultRule): boolean {
  switch (rule.kind) {
    case 'http-error':
      return rule.afterWrite ?? rule.status === 504
    case 'timeout':
    case 'disconnect':
      return rule.afterWrite ?? false
    case 'non-json':
    case 'no-envelope':
      return rule.afterWrite ?? true
    default:
      return false
  }
}

export interface FaultRuleStatus {
  rule: FaultRule
  /** Matching requests seen. */
  matched: number
  /** Times it fired. */
  fired: number
  /** Times it may still fire, or null when unlimited. */
  remaining: number | null
}

export interface FaultPick {
  latencyMs: number
  fault?: FaultRule
}

export interface FaultEngine {
  set(rules: FaultRules): void
  status(): FaultRuleStatus[]
  pick(target: RequestTarget): FaultPick
}

export function createFaultEngine(random: Random): FaultEngine {
  let entries: Array<{
    rule: FaultRule
    matches: (t: RequestTarget) => boolean
    matched: number
    fired: number
  }> = []

  const fires = (entry: (typeof entries)[number]): boolean => {
    const { rule } = entry
    entry.matched += 1
    if (entry.matched <= (rule.skip ?? 0)) return false
    if (rule.times !== undefined && entry.fired >= rule.times) return false
    const probability = rule.probability ?? 1
    if (probability < 1 && random.next() >= probability) return false
    entry.fired += 1
    return true
  }

  return {
    set(rules) {
      entries = rules.map((rule) => {
        const implied = IMPLIED_ROUTE[rule.kind]
        const general = compileTarget(rule)
        const matches = implied ? (t: RequestTarget) => t.route === implied && general(t) : general
        return { rule: structuredClone(rule), matches, matched: 0, fired: 0 }
      })
    },
    status() {
      return entries.map(({ rule, matched, fired }) => ({
        rule: structuredClone(rule),
        matched,
        fired,
        remaining: rule.times === undefined ? null : Math.max(0, rule.times - fired),
      }))
    },
    pick(target) {
      const pick: FaultPick = { latencyMs: 0 }
      for (const entry of entries) {
        if (!entry.matches(target)) continue
        if (entry.rule.kind === 'latency') {
          if (fires(entry)) pick.latencyMs += entry.rule.ms
        } else if (!pick.fault && fires(entry)) {
          pick.fault = entry.rule
        }
      }
      return pick
    },
  }
}
