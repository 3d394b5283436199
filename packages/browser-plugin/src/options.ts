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

// What each option must be: a kind (below) or [min, max, default] for a whole number; `[kind, default]`
// gives a default to another kind. `!` marks the required ones.
type Rule = string | readonly [string | number, unknown, unknown?]
const RULES: Record<string, Rule> = {
  proxyUrl: 'url!',
  writeKey: 'text!',
  settings: 'settings',
  batchSize: [1, 100, 10],
  flushIntervalMs: [0, 60_000, 1000],
  consentCategories: ['names', []],
  debug: 'debug',
  storage: 'storage',
  fetch: 'function',
  maxQueueItems: [1, 10_000, 200],
  maxQueueBytes: [1000, 5_000_000, 200_000],
  maxAgeMs: [60_000, 90 * 864e5, 7 * 864e5],
  identity: 'function',
}

const isText = (v: unknown) => typeof v == 'string' && v != ''
const isObject = (v: unknown): v is Record<string, unknown> => typeof v == 'object' && !!v

const KINDS: Record<string, [(v: unknown) => boolean, string]> = {
  url: [
    (v) => isText(v) && /^(https?:\/\/[^/]|\/)/.test(v as string),
    'an http(s) URL or a path starting with /',
  ],
  text: [isText, 'a non-empty string'],
  settings: [(v) => isObject(v) && Array.isArray(v.mappings), 'an object with a mappings array'],
  names: [(v) => Array.isArray(v) && v.every(isText), 'an array of non-empty strings'],
  debug: [(v) => typeof v == 'boolean' || typeof v == 'function', 'true, false or a function'],
  function: [(v) => typeof v == 'function', 'a function'],
  storage: [(v) => v === null || (isObject(v) && typeof v.setItem == 'function'), 'a Storage or null'],
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
    const rule = RULES[key]!
    const value = given[key]
    const [head, second, third] = typeof rule == 'string' ? [rule] : rule
    const numeric = typeof head == 'number'
    const [check, what] = numeric
      ? [
          (v: unknown) => Number.isInteger(v) && (v as number) >= head && (v as number) <= (second as number),
          `a whole number from ${head} to ${second}`,
        ]
      : KINDS[head.replace('!', '')]!
    if (value !== undefined) {
      if (check(value)) out[key] = value
      else problem(key, `must be ${what} (Received: ${describeValue(value)})`)
    } else if (/!/.test(head as string)) problem(key, `is required: ${what} (Received: undefined)`)
    else out[key] = numeric ? third : second
  }
  if (issues.length) throw new ConfigError('Invalid Qualtrics plugin options', issues)

  const o = out as unknown as Resolved & QualtricsPluginOptions
  const { debug } = o
  const logger: Logger =
    typeof debug == 'function' ? debug : (message, detail) => console.debug(message, detail)
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
