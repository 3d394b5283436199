// The plugin's options, validated once at construction: every bad option is listed in one ConfigError
// with what was received. The API token is never echoed, only described ("a string of 40 characters").
import {
  ConfigError,
  describeValue,
  MappingError,
  parseMappingSet,
  type FieldIssue,
  type MappingInput,
  type MappingSpec,
} from '@qualtrics-relay/core'
import {
  isWellFormed,
  maskDatabaseUrl,
  parseDeliveryOptions,
  type DeliveryEngineConfig,
  type DeliveryEngineOptions,
} from '@qualtrics-relay/core/server'
import { missingStorePackage, type ModuleResolver } from './store-packages'

/** Tuning of core's delivery engine (see its table of options and defaults). */
export type DeliveryOptions = DeliveryEngineOptions & Pick<DeliveryEngineConfig, 'isWorkflowUrlAllowed'>

/** Where the plugin writes its log lines. `console` fits; pino fits. Never receives the token. */
export interface NodePluginLogger {
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
}

/** Options both modes share. */
export interface CommonOptions {
  /**
   * Resolve each hook only once its items are delivered to Qualtrics (or given up), instead of once they
   * are accepted (enqueued in direct mode, stored by the proxy in proxy mode). Default `false`.
   */
  waitForDelivery?: boolean
  /** Longest time one hook waits, in ms; then the event is reported failed (its items stay queued). Default 10,000. */
  timeoutMs?: number
  /** Longest time `flush()` and `close()` wait, in ms. Default 30,000. */
  flushTimeoutMs?: number
  /** Receives the plugin's log lines (and in direct mode one line per Qualtrics call). Default: none. */
  logger?: NodePluginLogger
  /** The fetch to use for every request. Default: `globalThis.fetch`, read at each request. */
  fetch?: typeof fetch
  /**
   * Origins besides `https://*.qualtrics.com` that workflow URLs may use (a sandbox). Default: the origin
   * of `baseUrl` in direct mode; the proxy's `workflowOrigins` setting in proxy mode.
   */
  workflowOrigins?: string[]
}

/**
 * Direct mode: this server holds the Qualtrics token and delivers with core's delivery engine (the same
 * batching, contact cache, idempotent keys, rate limiting and retries as the proxy).
 */
export interface DirectModeOptions extends CommonOptions {
  /** Qualtrics API token. Required. */
  apiToken: string
  /** Datacenter id such as `iad1`. Required unless `baseUrl` is given. */
  datacenter?: string
  /** Overrides the API base, e.g. the sandbox's URL. Its origin may also receive workflow events. */
  baseUrl?: string
  /** The mappings (action + trigger + fields), as in the proxy's config file. Required. */
  mappings: MappingInput[]
  /** Time allowed for one Qualtrics request, in ms. Default 10,000. */
  requestTimeoutMs?: number
  /** Options of the delivery engine (batch size, linger, rate limit, retries, …), passed through as given. */
  delivery?: DeliveryOptions
  /**
   * Durable delivery, on the proxy's stores: a SQLite file, or PostgreSQL shared with other processes
   * (and proxies) on one database. Default: in memory (lost if the process dies). SQLite's
   * `synchronous`: `'full'` (default) puts each accepted event on disk before the hook resolves, so it
   * survives a power loss; `'normal'` is faster and survives a process crash only.
   */
  storage?: { sqlitePath: string; synchronous?: 'full' | 'normal' } | { databaseUrl: string; schema?: string }
  /**
   * The record `checkLive` writes. Batched (`or`) contact look-ups are used only when this record saw
   * them honoured on the same account (API base and token). Default: none (look-ups one leaf each).
   */
  liveCheckRecord?: string
  /**
   * The name of this sender: part of each item's id (its Qualtrics transaction key), so two senders that
   * share a store or a messageId never take each other's events for duplicates; also shown in status and
   * dead letters. 1–128 characters, no control characters. Keep it stable: an event re-sent under
   * another name is a new item. Default `"node-plugin"`.
   */
  source?: string
}

/** Where direct mode keeps its queue; undefined: in memory. */
export type DirectStorage =
  | { kind: 'sqlite'; path: string; synchronous: 'full' | 'normal' }
  | { kind: 'postgres'; url: string; schema?: string }

/** Via the proxy: this server posts mapped payloads to a qualtrics-relay proxy, which holds the token. */
export interface ProxyModeOptions extends CommonOptions {
  /** The proxy's base URL, e.g. `https://relay.example.com`. Required. */
  proxyUrl: string
  /** The write key the proxy knows this source by. Required. */
  writeKey: string
  /** Mappings evaluated here. Default: fetched from the proxy (`GET /v1/settings`). */
  mappings?: MappingInput[]
  /** Most items in one `POST /v1/batch` (bodies also stay under 90 KB). Default 50. */
  batchSize?: number
  /** How long an item waits for others to fill its batch, in ms. Default 5. */
  lingerMs?: number
  /** Attempts per batch (network errors, timeouts, 429 and 5xx are retried). Default 3. */
  maxAttempts?: number
  /** Time allowed for one request to the proxy, in ms. Default 5,000. */
  requestTimeoutMs?: number
  /** How long fetched settings are used before they are revalidated (in the background), in ms. Default 60,000. */
  settingsMaxAgeMs?: number
  /**
   * With the proxy's signed identities on for this write key: the write key's secret. Each item then
   * carries `{ userId, signature: hex(HMAC-SHA256(secret, userId)) }` for the event's userId.
   * Default: no identity sent.
   */
  identitySecret?: string
}

export type QualtricsNodePluginOptions = DirectModeOptions | ProxyModeOptions

interface CommonResolved {
  waitForDelivery: boolean
  timeoutMs: number
  flushTimeoutMs: number
  logger: NodePluginLogger | undefined
  fetch: typeof fetch | undefined
  workflowOrigins: string[] | undefined
}

export interface ResolvedDirectOptions extends CommonResolved {
  mode: 'direct'
  apiToken: string
  datacenter: string | undefined
  baseUrl: string | undefined
  mappings: MappingSpec[]
  workflowOrigins: string[]
  requestTimeoutMs: number
  delivery: DeliveryOptions
  storage: DirectStorage | undefined
  liveCheckRecord: string | undefined
  source: string
}

export interface ResolvedProxyOptions extends CommonResolved {
  mode: 'proxy'
  proxyUrl: string
  writeKey: string
  mappings: MappingSpec[] | undefined
  batchSize: number
  lingerMs: number
  maxAttempts: number
  requestTimeoutMs: number
  settingsMaxAgeMs: number
  identitySecret: string | undefined
}

export type ResolvedOptions = ResolvedDirectOptions | ResolvedProxyOptions

export const DEFAULTS = {
  timeoutMs: 10_000,
  flushTimeoutMs: 30_000,
  requestTimeoutMs: 10_000,
  proxyRequestTimeoutMs: 5_000,
  batchSize: 50,
  lingerMs: 5,
  maxAttempts: 3,
  settingsMaxAgeMs: 60_000,
  source: 'node-plugin',
} as const

/** The most a wait may be: setTimeout's limit. */
const MAX_MS = 2_147_483_647
const MAX_BATCH = 100
const DATACENTER = /^[a-z0-9][a-z0-9-]{0,62}$/

const COMMON_KEYS = ['waitForDelivery', 'timeoutMs', 'flushTimeoutMs', 'logger', 'fetch', 'workflowOrigins']
const DIRECT_KEYS = new Set([
  ...COMMON_KEYS,
  'apiToken',
  'datacenter',
  'baseUrl',
  'mappings',
  'requestTimeoutMs',
  'delivery',
  'storage',
  'liveCheckRecord',
  'source',
])
const PROXY_KEYS = new Set([
  ...COMMON_KEYS,
  'proxyUrl',
  'writeKey',
  'mappings',
  'batchSize',
  'lingerMs',
  'maxAttempts',
  'requestTimeoutMs',
  'settingsMaxAgeMs',
  'identitySecret',
])

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Validates the options; throws one ConfigError listing every problem. `resolveModule` finds installed
 * packages (better-sqlite3 for `storage`); Node's resolution unless a test gives another.
 */
export function parseNodePluginOptions(options: unknown, resolveModule?: ModuleResolver): ResolvedOptions {
  if (!isObject(options)) {
    throw new ConfigError(
      `Invalid Qualtrics plugin options: expected an object (Received: ${describeValue(options)})`,
    )
  }
  const o = options
  const issues: FieldIssue[] = []
  const bad = (path: string, message: string) => issues.push({ path, message })

  const direct = o.apiToken !== undefined
  const viaProxy = o.proxyUrl !== undefined
  if (direct && viaProxy) {
    bad(
      'apiToken',
      'and proxyUrl exclude each other: give apiToken (direct mode) or proxyUrl (via the proxy)',
    )
  } else if (!direct && !viaProxy) {
    bad('apiToken', 'or proxyUrl is required: apiToken for direct mode, proxyUrl and writeKey for the proxy')
  }
  const mode = viaProxy && !direct ? 'proxy' : 'direct'
  for (const key of Object.keys(o)) {
    const inDirect = DIRECT_KEYS.has(key)
    const inProxy = PROXY_KEYS.has(key)
    if ((mode === 'proxy' ? inProxy : inDirect) || (direct && viaProxy && (inDirect || inProxy))) continue
    bad(
      key,
      inDirect || inProxy
        ? `is an option of ${mode === 'proxy' ? 'direct' : 'proxy'} mode only`
        : 'is not an option',
    )
  }

  const common: CommonResolved = {
    waitForDelivery: readBoolean(o, 'waitForDelivery', false, bad),
    timeoutMs: readMs(o, 'timeoutMs', DEFAULTS.timeoutMs, bad),
    flushTimeoutMs: readMs(o, 'flushTimeoutMs', DEFAULTS.flushTimeoutMs, bad),
    logger: readLogger(o, bad),
    fetch: readFunction<typeof fetch>(o, 'fetch', bad),
    workflowOrigins: readOrigins(o, bad),
  }

  let mappings: MappingSpec[] | undefined
  if (o.mappings === undefined) {
    if (!viaProxy) bad('mappings', 'is required in direct mode: a list of mappings (action, trigger, fields)')
  } else {
    try {
      mappings = parseMappingSet(o.mappings, 'mappings')
    } catch (error) {
      if (!(error instanceof MappingError)) throw error
      issues.push(...error.issues)
    }
  }

  let resolved: ResolvedOptions | undefined
  if (viaProxy && !direct) {
    const proxyUrl = readUrl(o, 'proxyUrl', bad)
    const writeKey = o.writeKey
    if (typeof writeKey !== 'string' || writeKey.trim() === '' || !/^[\x21-\x7e]+$/.test(writeKey)) {
      bad('writeKey', `is required: a non-empty string without spaces (Received: ${describeValue(writeKey)})`)
    }
    const batchSize = readCount(o, 'batchSize', DEFAULTS.batchSize, MAX_BATCH, bad)
    const lingerMs = readMs(o, 'lingerMs', DEFAULTS.lingerMs, bad, true)
    const maxAttempts = readCount(o, 'maxAttempts', DEFAULTS.maxAttempts, 20, bad)
    const requestTimeoutMs = readMs(o, 'requestTimeoutMs', DEFAULTS.proxyRequestTimeoutMs, bad)
    const settingsMaxAgeMs = readMs(o, 'settingsMaxAgeMs', DEFAULTS.settingsMaxAgeMs, bad, true)
    const identitySecret = o.identitySecret
    if (identitySecret !== undefined && (typeof identitySecret !== 'string' || identitySecret.length < 16)) {
      bad(
        'identitySecret',
        `must be the write key's secret, at least 16 characters (Received: ${maskSecret(identitySecret)})`,
      )
    }
    if (proxyUrl !== undefined && typeof writeKey === 'string') {
      resolved = {
        mode: 'proxy',
        ...common,
        proxyUrl,
        writeKey,
        mappings,
        batchSize,
        lingerMs,
        maxAttempts,
        requestTimeoutMs,
        settingsMaxAgeMs,
        identitySecret: typeof identitySecret === 'string' ? identitySecret : undefined,
      }
    }
  } else if (direct) {
    const token = o.apiToken
    if (typeof token !== 'string' || token.trim() === '') {
      bad('apiToken', `is required: a non-empty string (Received: ${maskSecret(token)})`)
    } else if (!/^[\x21-\x7e]+$/.test(token)) {
      bad('apiToken', `must be printable ASCII without spaces (Received: ${maskSecret(token)})`)
    }
    const baseUrl = o.baseUrl === undefined ? undefined : readUrl(o, 'baseUrl', bad)
    const datacenter = o.datacenter
    if (datacenter === undefined) {
      if (o.baseUrl === undefined) bad('datacenter', 'is required unless baseUrl is given (e.g. "iad1")')
    } else if (typeof datacenter !== 'string' || !DATACENTER.test(datacenter)) {
      bad(
        'datacenter',
        `must look like "iad1": lower-case letters, digits and "-" (Received: ${describeValue(datacenter)})`,
      )
    }
    const workflowOrigins = common.workflowOrigins ?? (baseUrl === undefined ? [] : [new URL(baseUrl).origin])
    const requestTimeoutMs = readMs(o, 'requestTimeoutMs', DEFAULTS.requestTimeoutMs, bad)
    const delivery = readDelivery(o, bad)
    const storage = o.storage === undefined ? undefined : readStorage(o.storage, bad, resolveModule)
    const liveCheckRecord = o.liveCheckRecord
    if (
      liveCheckRecord !== undefined &&
      (typeof liveCheckRecord !== 'string' || liveCheckRecord.trim() === '')
    )
      bad('liveCheckRecord', `must be a file path (Received: ${describeValue(liveCheckRecord)})`)
    if (typeof token === 'string') {
      resolved = {
        mode: 'direct',
        liveCheckRecord: typeof liveCheckRecord === 'string' ? liveCheckRecord : undefined,
        ...common,
        apiToken: token,
        datacenter: typeof datacenter === 'string' ? datacenter : undefined,
        baseUrl,
        mappings: mappings ?? [],
        workflowOrigins,
        requestTimeoutMs,
        delivery,
        storage,
        source: readSource(o, bad),
      }
    }
  }

  if (issues.length > 0 || resolved === undefined) {
    const count = `${issues.length} problem${issues.length === 1 ? '' : 's'}`
    throw new ConfigError(`Invalid Qualtrics plugin options (${count})`, issues)
  }
  return resolved
}

type Bad = (path: string, message: string) => void

/** What the plugin gives the engine itself; not settable through `delivery`. */
const PLUGIN_MANAGED = new Set(['client', 'store', 'clock', 'logger', 'random', 'orLookups'])

/** The engine's own validation, run now so its problems are listed with the others. */
function readDelivery(o: Record<string, unknown>, bad: Bad): DeliveryOptions {
  const value = o.delivery
  if (value === undefined) return {}
  if (!isObject(value)) {
    bad('delivery', `must be an object of delivery engine options (Received: ${describeValue(value)})`)
    return {}
  }
  for (const key of Object.keys(value)) {
    if (PLUGIN_MANAGED.has(key)) bad(`delivery.${key}`, 'is set by the plugin and cannot be given')
  }
  try {
    parseDeliveryOptions(value as unknown as DeliveryEngineConfig)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    for (const issue of error.issues) {
      if (issue.path === 'client' || issue.path === 'store' || PLUGIN_MANAGED.has(issue.path)) continue
      bad(`delivery.${issue.path}`, issue.message)
    }
  }
  return value as DeliveryOptions
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** `{ sqlitePath }` or `{ databaseUrl, schema? }`; a database URL is shown only with its password masked. */
function readStorage(storage: unknown, bad: Bad, resolveModule?: ModuleResolver): DirectStorage | undefined {
  const shape = 'must be { sqlitePath: string } or { databaseUrl: string, schema?: string }'
  if (isObject(storage) && typeof storage.sqlitePath === 'string' && storage.sqlitePath.trim() !== '') {
    for (const key of Object.keys(storage))
      if (key !== 'sqlitePath' && key !== 'synchronous') bad(`storage.${key}`, 'is not an option')
    let synchronous: 'full' | 'normal' = 'full'
    if (storage.synchronous === 'normal' || storage.synchronous === 'full') synchronous = storage.synchronous
    else if (storage.synchronous !== undefined) {
      bad(
        'storage.synchronous',
        `must be "full" or "normal" (Received: ${describeValue(storage.synchronous)})`,
      )
    }
    const missing = missingStorePackage('better-sqlite3', '@qualtrics-relay/core/sqlite', resolveModule)
    if (missing !== undefined) bad('storage.sqlitePath', missing)
    return { kind: 'sqlite', path: storage.sqlitePath, synchronous }
  }
  if (!isObject(storage) || storage.databaseUrl === undefined) {
    bad('storage', `${shape} (Received: ${describeValue(storage)})`)
    return undefined
  }
  const url = storage.databaseUrl
  if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url) || !URL.canParse(url)) {
    const received = typeof url === 'string' ? maskDatabaseUrl(url) : describeValue(url)
    bad(
      'storage.databaseUrl',
      `must be a postgres://user:password@host:port/database URL (Received: ${received})`,
    )
  }
  const schema = storage.schema
  if (schema !== undefined && (typeof schema !== 'string' || !SCHEMA_NAME.test(schema))) {
    bad(
      'storage.schema',
      `must be a lower-case identifier of letters, digits and _ (Received: ${describeValue(schema)})`,
    )
  }
  for (const key of Object.keys(storage))
    if (key !== 'databaseUrl' && key !== 'schema') bad(`storage.${key}`, 'is not an option')
  const missing = missingStorePackage('pg', '@qualtrics-relay/core/postgres', resolveModule)
  if (missing !== undefined) bad('storage.databaseUrl', missing)
  return typeof schema === 'string'
    ? { kind: 'postgres', url: String(url), schema }
    : { kind: 'postgres', url: String(url) }
}

function readBoolean(o: Record<string, unknown>, key: string, fallback: boolean, bad: Bad): boolean {
  const value = o[key]
  if (value === undefined) return fallback
  if (typeof value === 'boolean') return value
  bad(key, `must be true or false (Received: ${describeValue(value)})`)
  return fallback
}

function readMs(o: Record<string, unknown>, key: string, fallback: number, bad: Bad, zeroOk = false): number {
  const value = o[key]
  if (value === undefined) return fallback
  if (typeof value === 'number' && Number.isInteger(value) && value >= (zeroOk ? 0 : 1) && value <= MAX_MS) {
    return value
  }
  bad(key, `must be a whole number of ms, ${zeroOk ? '0' : '1'} or more (Received: ${describeValue(value)})`)
  return fallback
}

function readCount(o: Record<string, unknown>, key: string, fallback: number, max: number, bad: Bad): number {
  const value = o[key]
  if (value === undefined) return fallback
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= max) return value
  bad(key, `must be a whole number from 1 to ${max} (Received: ${describeValue(value)})`)
  return fallback
}

function readFunction<F>(o: Record<string, unknown>, key: string, bad: Bad): F | undefined {
  const value = o[key]
  if (value === undefined) return undefined
  if (typeof value === 'function') return value as F
  bad(key, `must be a function (Received: ${describeValue(value)})`)
  return undefined
}

function readLogger(o: Record<string, unknown>, bad: Bad): NodePluginLogger | undefined {
  const value = o.logger
  if (value === undefined) return undefined
  if (isObject(value) && typeof value.info === 'function' && typeof value.warn === 'function') {
    return value as unknown as NodePluginLogger
  }
  bad(
    'logger',
    `must have info(fields, message) and warn(fields, message) (Received: ${describeValue(value)})`,
  )
  return undefined
}

/** An absolute http(s) URL without user info, query or fragment; returned without a trailing slash. */
function readUrl(o: Record<string, unknown>, key: string, bad: Bad): string | undefined {
  const value = o[key]
  // Never echo user info: it may hold a secret.
  const shown = typeof value === 'string' ? value.replace(/\/\/[^/?#]*@/, '//…@') : value
  const received = `(Received: ${describeValue(shown)})`
  let url: URL
  try {
    if (typeof value !== 'string') throw new TypeError('not a string')
    url = new URL(value)
  } catch {
    bad(key, `must be an absolute http(s) URL ${received}`)
    return undefined
  }
  if (url.username || url.password) {
    bad(key, `must not carry user info (Received: ${url.protocol}//…@${url.host})`)
  } else if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    bad(key, `must use http: or https: ${received}`)
  } else if (url.search || url.hash) {
    bad(key, `must not carry a query or fragment (Received: ${url.origin}${url.pathname}…)`)
  } else {
    return url.href.replace(/\/+$/, '')
  }
  return undefined
}

function readOrigins(o: Record<string, unknown>, bad: Bad): string[] | undefined {
  const value = o.workflowOrigins
  if (value === undefined) return undefined
  if (!Array.isArray(value)) {
    bad(
      'workflowOrigins',
      `must be a list of origins like "https://example.com" (Received: ${describeValue(value)})`,
    )
    return undefined
  }
  const origins: string[] = []
  value.forEach((entry, index) => {
    let origin: string | undefined
    try {
      const url = typeof entry === 'string' ? new URL(entry) : undefined
      if (
        url &&
        (url.protocol === 'http:' || url.protocol === 'https:') &&
        url.origin === entry.replace(/\/$/, '')
      ) {
        origin = url.origin
      }
    } catch {
      // reported below
    }
    if (origin === undefined) {
      bad(
        `workflowOrigins.${index}`,
        `must be an origin like "https://example.com" (Received: ${describeValue(entry)})`,
      )
    } else origins.push(origin)
  })
  return origins
}

/** 1–128 characters of well-formed text without control characters (it is hashed into item ids). */
function readSource(o: Record<string, unknown>, bad: Bad): string {
  const value = o.source
  if (value === undefined) return DEFAULTS.source
  if (
    typeof value === 'string' &&
    value.length >= 1 &&
    value.length <= 128 &&
    isWellFormed(value) &&
    !/\p{Cc}/u.test(value)
  ) {
    return value
  }
  bad(
    'source',
    `must be 1 to 128 characters of well-formed text without control characters (Received: ${describeValue(value)})`,
  )
  return DEFAULTS.source
}

/** Describes a secret without showing it: its type, or its length when it is a string. */
export function maskSecret(value: unknown): string {
  if (value === undefined) return 'undefined'
  if (value === null) return 'null'
  if (typeof value === 'string') return value === '' ? '""' : `a string of ${value.length} characters, hidden`
  return `a ${typeof value}, hidden`
}
