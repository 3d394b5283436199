// The options of createQualtricsClient, validated once: every bad option is listed in one ConfigError,
// and the token is never echoed.

import { ConfigError, describeValue, type FieldIssue } from '../../errors'

/** One line per Qualtrics call. `info` for answers in 2xx, `warn` for every failure. pino fits as is. */
export interface QualtricsLogger {
  info(fields: QualtricsCallLog, message: string): void
  warn(fields: QualtricsCallLog, message: string): void
}

/** What is logged per call. Never the token, never a query string, never a body. */
export interface QualtricsCallLog {
  method: string
  /** URL path without its query. */
  path: string
  /** Absent when no HTTP answer arrived. */
  status?: number
  ms: number
  /** Qualtrics' `meta.requestId`, when the answer carried one. */
  requestId?: string
  /** The RelayError code, on failures. */
  code?: string
  /** Qualtrics' `meta.notice` (e.g. "Request proxied…"), when present. */
  notice?: string
}

export interface QualtricsClientOptions {
  /** Qualtrics API token, sent as `X-API-TOKEN`. Required. */
  apiToken: string
  /**
   * Datacenter id (`iad1`, `fra1`, `ca1`, …), form `^[a-z0-9][a-z0-9-]*$`; the API base is
   * `https://{datacenter}.qualtrics.com`. Required unless `baseUrl` is given.
   */
  datacenter?: string
  /**
   * Overrides the API base (the sandbox, a brand host like `https://acme.ca1.qualtrics.com`). Its origin
   * may then also receive the token (workflow URLs, `nextPage` links). May carry a path prefix; no
   * user info, query or fragment. Default: derived from `datacenter`.
   */
  baseUrl?: string
  /** The fetch to use. Default: `globalThis.fetch`, read at each request (not at import). */
  fetch?: typeof fetch
  /** Clock in epoch ms, for durations in logs and `Retry-After` dates. Default: `Date.now`. */
  now?: () => number
  /** Time allowed for a whole request, headers and body, in ms. Default: 10,000. */
  timeoutMs?: number
  /** Receives one line per call. Default: no-op. */
  logger?: QualtricsLogger
  /** `User-Agent` header. Default: `qualtrics-relay`. */
  userAgent?: string
}

export interface ResolvedClientOptions {
  apiToken: string
  /** Absolute API base without a trailing slash, e.g. `https://iad1.qualtrics.com`. */
  apiBase: string
  /** The origin of `baseUrl` when one was configured. */
  extraOrigin: string | undefined
  /** The injected fetch; undefined means `globalThis.fetch` at each request. */
  fetch: typeof fetch | undefined
  now: () => number
  timeoutMs: number
  logger: QualtricsLogger
  userAgent: string
}

export const DEFAULT_TIMEOUT_MS = 10_000
export const DEFAULT_USER_AGENT = 'qualtrics-relay'
const MAX_TIMEOUT_MS = 2_147_483_647

const DATACENTER = /^[a-z0-9][a-z0-9-]*$/
const KNOWN_KEYS = new Set([
  'apiToken',
  'datacenter',
  'baseUrl',
  'fetch',
  'now',
  'timeoutMs',
  'logger',
  'userAgent',
])

/**
 * The datacenters in the `servers` of Qualtrics' published API definition (spec §1.1). Older ids
 * (`ca1`, `sjc1`, `co1`, `az1`, `eu`, …) live on in brand hosts and are still accepted; a check warns.
 */
export const PUBLISHED_DATACENTERS = [
  'yul1',
  'iad1',
  'pdx1',
  'fra1',
  'lhr1',
  'syd1',
  'sin1',
  'hnd1',
  'gov1',
] as const

/** True for a datacenter id of the accepted form (`iad1`, `fra1`, `ca1`, `gov1`, …). */
export function isDatacenter(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 63 && DATACENTER.test(value)
}

const noopLogger: QualtricsLogger = { info() {}, warn() {} }

/** Validates the options; throws one ConfigError listing every problem. */
export function parseQualtricsClientOptions(options: unknown): ResolvedClientOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError(
      `Invalid Qualtrics client options: expected an object (Received: ${describeValue(options)})`,
    )
  }
  const o = options as Record<string, unknown>
  const issues: FieldIssue[] = []
  const bad = (path: string, message: string) => issues.push({ path, message })

  for (const key of Object.keys(o)) {
    if (!KNOWN_KEYS.has(key)) bad(key, 'unknown option')
  }

  const token = o.apiToken
  if (typeof token !== 'string' || token.trim() === '') {
    bad('apiToken', `required, a non-empty string (Received: ${maskSecret(token)})`)
  } else if (!/^[\x21-\x7e]+$/.test(token)) {
    bad('apiToken', `must be printable ASCII without spaces (Received: ${maskSecret(token)})`)
  }

  let apiBase: string | undefined
  let extraOrigin: string | undefined
  if (o.baseUrl !== undefined) {
    const base = parseBaseUrl(o.baseUrl)
    if (typeof base === 'string') bad('baseUrl', base)
    else {
      apiBase = base.href.replace(/\/+$/, '')
      extraOrigin = base.origin
    }
  }
  if (o.datacenter === undefined) {
    if (o.baseUrl === undefined) bad('datacenter', 'required unless baseUrl is given (e.g. "iad1")')
  } else if (!isDatacenter(o.datacenter)) {
    bad(
      'datacenter',
      `must look like "iad1": lower-case letters, digits and "-" (Received: ${describeValue(o.datacenter)})`,
    )
  } else if (apiBase === undefined && o.baseUrl === undefined) {
    apiBase = `https://${o.datacenter}.qualtrics.com`
  }

  if (o.fetch !== undefined && typeof o.fetch !== 'function') {
    bad('fetch', `must be a function (Received: ${describeValue(o.fetch)})`)
  }
  if (o.now !== undefined && typeof o.now !== 'function') {
    bad('now', `must be a function returning epoch ms (Received: ${describeValue(o.now)})`)
  }
  if (
    o.timeoutMs !== undefined &&
    !(
      typeof o.timeoutMs === 'number' &&
      Number.isInteger(o.timeoutMs) &&
      o.timeoutMs > 0 &&
      o.timeoutMs <= MAX_TIMEOUT_MS
    )
  ) {
    bad('timeoutMs', `must be a positive whole number of ms (Received: ${describeValue(o.timeoutMs)})`)
  }
  if (o.logger !== undefined && !isLogger(o.logger)) {
    bad(
      'logger',
      `must have info(fields, message) and warn(fields, message) (Received: ${describeValue(o.logger)})`,
    )
  }
  if (o.userAgent !== undefined && !(typeof o.userAgent === 'string' && /^[\x20-\x7e]+$/.test(o.userAgent))) {
    bad('userAgent', `must be a non-empty printable ASCII string (Received: ${describeValue(o.userAgent)})`)
  }

  if (issues.length > 0 || apiBase === undefined) {
    const count = `${issues.length} problem${issues.length === 1 ? '' : 's'}`
    throw new ConfigError(`Invalid Qualtrics client options (${count})`, issues)
  }
  return {
    apiToken: token as string,
    apiBase,
    extraOrigin,
    fetch: o.fetch as typeof fetch | undefined,
    now: (o.now as (() => number) | undefined) ?? Date.now,
    timeoutMs: (o.timeoutMs as number | undefined) ?? DEFAULT_TIMEOUT_MS,
    logger: (o.logger as QualtricsLogger | undefined) ?? noopLogger,
    userAgent: (o.userAgent as string | undefined) ?? DEFAULT_USER_AGENT,
  }
}

function parseBaseUrl(value: unknown): URL | string {
  const received = `(Received: ${describeValue(value)})`
  if (typeof value !== 'string') return `must be an absolute http(s) URL ${received}`
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return `must be an absolute http(s) URL ${received}`
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `must use http: or https: ${received}`
  // Never echo user info: it may hold a secret.
  if (url.username || url.password)
    return `must not carry user info (Received: ${url.protocol}//…@${url.host})`
  if (url.search || url.hash)
    return `must not carry a query or fragment (Received: ${url.origin}${url.pathname}…)`
  return url
}

function isLogger(value: unknown): value is QualtricsLogger {
  if (typeof value !== 'object' || value === null) return false
  const l = value as Record<string, unknown>
  return typeof l.info === 'function' && typeof l.warn === 'function'
}

/** Describes a secret without showing it: its type, or its length when it is a string. */
export function maskSecret(value: unknown): string {
  if (value === undefined) return 'undefined'
  if (value === null) return 'null'
  if (typeof value === 'string') return value === '' ? '""' : `a string of ${value.length} characters, hidden`
  return `a ${typeof value}, hidden`
}
