// The plugin's options: their types, their defaults and one check at construction. The checks are
// hand-written and table-driven on purpose: a schema library would weigh more than the whole plugin.
import {
  formatIssues,
  issue,
  RelayError,
  type BatchItem,
  type FieldIssue,
  type PublicSettings,
} from '@qualtrics-relay/core'
import type { Context } from '@segment/analytics-next'

/** The part of `Storage` the plugin uses; `window.localStorage` by default. */
export type StorageLike = Pick<Storage, 'getItem' | 'setItem' | 'removeItem' | 'key' | 'length'>

export type Logger = (message: string, detail?: unknown) => void

export interface QualtricsPluginOptions {
  /** Base URL of the qualtrics-relay proxy: `https://relay.example.com` or a same-origin path `/relay`. */
  proxyUrl: string
  /** The write key the proxy knows this site by (public, not a secret). */
  writeKey: string
  /** Mappings given inline; when absent they are loaded from `GET <proxyUrl>/v1/settings`. */
  settings?: PublicSettings
  /** Items per request, 1-100. Default 10. */
  batchSize?: number
  /** How long an item may wait for others before a request is sent, in ms. Default 1000. */
  flushIntervalMs?: number
  /** Consent categories that must all be granted in `context.consent.categoryPreferences`. Default []. */
  consentCategories?: string[]
  /** Log what the plugin does: `true` logs with `console.debug`, a function receives the lines. Default false. */
  debug?: boolean | Logger
  /** Where the queue and the settings are kept; `null` keeps them in memory only. Default localStorage. */
  storage?: StorageLike | null
  /** The fetch to use. Default the global `fetch`. */
  fetch?: typeof fetch
  /** The most items kept in this tab's queue; the oldest are dropped beyond it. Default 200. */
  maxQueueItems?: number
  /** The most bytes (of JSON) kept in this tab's queue. Default 200,000. */
  maxQueueBytes?: number
  /** Items older than this are dropped, in ms. Default 7 days. */
  maxAgeMs?: number
  /** Signed identities: the `{ userId, signature }` your backend made for the signed-in user. */
  identity?: (event: Context['event']) => BatchItem['identity'] | undefined
}

export interface Resolved {
  /** `<proxyUrl>/v1/` */
  base: string
  writeKey: string
  settings?: PublicSettings
  batchSize: number
  flushIntervalMs: number
  consentCategories: string[]
  log: Logger
  /** null or undefined: memory only (none given, or localStorage is blocked). */
  storage?: StorageLike | null
  /** undefined: the global fetch, looked up at each request. */
  fetch?: typeof fetch
  maxQueueItems: number
  maxQueueBytes: number
  maxAgeMs: number
  identity?: QualtricsPluginOptions['identity']
}

/** A RelayError with its issues attached (as `issues`) and listed in the message, one per line. */
export function relayError(
  code: RelayError['code'],
  message: string,
  issues: FieldIssue[],
): RelayError & { issues: FieldIssue[] } {
  return Object.assign(new RelayError(code, formatIssues(message, issues)), { issues })
}

const isText = (v: unknown) => typeof v == 'string' && v != ''
const isObject = (v: unknown): v is Record<string, unknown> => typeof v == 'object' && !!v
const isFunction = (v: unknown) => typeof v == 'function'

// What each option must be: [check, what it must be, default]; a null default marks a required option.
type Rule = [(v: unknown) => boolean, string, unknown?]
const whole = (min: number, max: number, fallback: number): Rule => [
  (v) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max,
  `a whole number from ${min} to ${max}`,
  fallback,
]
const aFunction: Rule = [isFunction, 'a function']
const RULES: Record<string, Rule> = {
  proxyUrl: [
    (v) => isText(v) && /^(https?:\/\/[^/]|\/)/.test(v as string),
    'an http(s) URL or a /path',
    null,
  ],
  writeKey: [isText, 'a non-empty string', null],
  settings: [(v) => isObject(v) && Array.isArray(v.mappings), 'an object with a mappings array'],
  batchSize: whole(1, 100, 10),
  flushIntervalMs: whole(0, 60_000, 1000),
  consentCategories: [(v) => Array.isArray(v) && v.every(isText), 'an array of non-empty strings', []],
  debug: [(v) => typeof v == 'boolean' || isFunction(v), 'true, false or a function'],
  storage: [(v) => v === null || (isObject(v) && isFunction(v.setItem)), 'a Storage or null'],
  fetch: aFunction,
  maxQueueItems: whole(1, 10_000, 200),
  maxQueueBytes: whole(1000, 5_000_000, 200_000),
  maxAgeMs: whole(60_000, 90 * 864e5, 7 * 864e5),
  identity: aFunction,
}

/**
 * Checks every option at once and fills in the defaults; throws a RelayError (code `CONFIG_INVALID`,
 * `issues`: one per problem, each naming the option and what it received).
 */
export function resolveOptions(options: QualtricsPluginOptions): Resolved {
  const given = isObject(options)
  const o: Record<string, unknown> = given ? { ...options } : {}
  const issues: FieldIssue[] = []
  const problem = (path: string, expected: string, received: unknown) =>
    issues.push(issue(path, expected, received))
  if (!given) problem('', 'must be an object', options)
  for (const key in o) if (!RULES[key]) problem(key, 'is not an option', o[key])
  for (const key in RULES) {
    const [check, what, fallback] = RULES[key]!
    const value = o[key]
    if (value === undefined && fallback !== null) o[key] = fallback
    else if (!check(value)) problem(key, 'must be ' + what, value)
  }
  if (issues.length) throw relayError('CONFIG_INVALID', 'Invalid Qualtrics plugin options', issues)

  const r = o as unknown as Resolved
  const debug = options.debug
  r.base = `${(o.proxyUrl as string).replace(/\/+$/, '')}/v1/`
  // console.debug is looked up at each line (a page may wrap it after the plugin was made)
  r.log = debug
    ? (m, detail) => (isFunction(debug) ? (debug as Logger) : console.debug)('[Qualtrics] ' + m, detail)
    : () => {}
  // Reading `localStorage` throws where storage is blocked (some privacy settings); then keep to memory.
  try {
    if (r.storage === undefined) r.storage = localStorage
  } catch {
    // stays undefined: memory only
  }
  return r
}
