// The plugin's options: their types, their defaults and one check at construction. The checks are
// hand-written and table-driven on purpose: a schema library would weigh more than the whole plugin.
import {
  ConfigError,
  describeValue,
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
  storage: StorageLike
  fetch: typeof fetch
  maxQueueItems: number
  maxQueueBytes: number
  maxAgeMs: number
  identity?: QualtricsPluginOptions['identity']
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
    'an http(s) URL or a path starting with /',
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

/** Checks every option at once and fills in the defaults; throws a ConfigError listing every problem. */
export function resolveOptions(options: QualtricsPluginOptions): Resolved {
  const given: Record<string, unknown> = isObject(options) ? options : {}
  const out: Record<string, unknown> = {}
  const issues: FieldIssue[] = []
  const problem = (path: string, message: string) => issues.push({ path, message })
  if (!isObject(options)) problem('', `must be an object (Received: ${describeValue(options)})`)
  for (const key in given) if (!RULES[key]) problem(key, 'is not an option of the Qualtrics plugin')
  for (const key in RULES) {
    const [check, what, fallback] = RULES[key]!
    const value = given[key]
    if (value === undefined) {
      if (fallback === null) problem(key, `is required: ${what} (Received: undefined)`)
      else out[key] = fallback
    } else if (check(value)) out[key] = value
    else problem(key, `must be ${what} (Received: ${describeValue(value)})`)
  }
  if (issues.length) throw new ConfigError('Invalid Qualtrics plugin options', issues)

  const o = out as unknown as Resolved & QualtricsPluginOptions
  const { debug } = o
  const logger: Logger = isFunction(debug) ? debug : (message, detail) => console.debug(message, detail)
  o.base = `${o.proxyUrl.replace(/\/+$/, '')}/v1/`
  o.log = debug ? (message, detail) => logger(`[Qualtrics] ${message}`, detail) : () => {}
  o.fetch ||= (input, init) => fetch(input, init)
  o.storage = (o.storage === undefined ? defaultStorage() : o.storage) || {
    getItem: () => null,
    setItem() {},
    removeItem() {},
    key: () => null,
    length: 0,
  }
  return o
}

// Reading `localStorage` throws where storage is blocked (some privacy settings); then keep to memory.
function defaultStorage(): StorageLike | null {
  try {
    return localStorage
  } catch {
    return null
  }
}
