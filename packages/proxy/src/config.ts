// The proxy's configuration: one JSON file (mappings, write keys, origins, allowlists, limits) and a few
// environment variables (the secrets). This is the only module that reads `process.env`. Everything is
// validated once, before anything starts; every bad key is listed with what was received, and secrets
// are never shown.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import * as v from 'valibot'
import {
  compileMapping,
  ConfigError,
  describeValue,
  isQualtricsUrl,
  MappingError,
  parseMappingSet,
  type FieldIssue,
  type MappingSpec,
} from '@qualtrics-relay/core'
import {
  isWellFormed as isWellFormedText,
  maskDatabaseUrl,
  type DeliveryEngineOptions,
} from '@qualtrics-relay/core/server'

/** Environment variables the proxy reads (signing secrets come from variables the config file names). */
export const ENV = {
  config: 'RELAY_CONFIG',
  apiToken: 'QUALTRICS_API_TOKEN',
  datacenter: 'QUALTRICS_DATACENTER',
  baseUrl: 'QUALTRICS_BASE_URL',
  adminToken: 'RELAY_ADMIN_TOKEN',
  port: 'PORT',
  host: 'HOST',
  logLevel: 'RELAY_LOG_LEVEL',
  mode: 'RELAY_MODE',
  databaseUrl: 'DATABASE_URL',
  /** Tests only: `1` keeps the rate budget, contact locks and circuit per process on PostgreSQL (see StorageConfig). */
  testOnlyPerProcessLimits: 'RELAY_TEST_ONLY_PER_PROCESS_LIMITS',
} as const

/**
 * Where the proxy delivers. `qualtrics` (the default) needs QUALTRICS_API_TOKEN; `sandbox` starts the
 * local simulator and talks to nothing else. Sandbox mode is only ever used when asked for by name.
 */
export const MODES = ['qualtrics', 'sandbox'] as const
export type ProxyMode = (typeof MODES)[number]
const MODE_MESSAGE = 'must be "qualtrics" or "sandbox"'

export type Env = Readonly<Record<string, string | undefined>>

/** Sandbox values that may stand in for ids in sandbox mode: write them as these exact strings. */
export const SANDBOX_PLACEHOLDERS = {
  directoryId: '$sandbox.directoryId',
  mailingListId: '$sandbox.mailingListId',
  workflowUrl: '$sandbox.workflowUrl',
} as const

export type SandboxValues = { [K in keyof typeof SANDBOX_PLACEHOLDERS]: string }

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export interface TokenBucketConfig {
  /** Sustained rate. */
  perMinute: number
  /** Bucket size: how many may arrive at once. */
  burst: number
}

export interface WriteKeyConfig {
  key: string
  name: string
  /** Exact origins (`https://shop.example`) allowed to call with this key from a browser; `*` = any. */
  origins: readonly string[]
  mappings: readonly MappingSpec[]
  allow: {
    directories: ReadonlySet<string>
    mailingLists: ReadonlySet<string>
    /** Normalised (`new URL(u).href`) full URLs. */
    workflowUrls: ReadonlySet<string>
  }
  /** Signed identity: every item must carry `identity` signed with this secret. */
  identity?: { secret: string; allowContactId: boolean }
}

export type QualtricsTarget =
  | { mode: 'qualtrics'; apiToken: string; datacenter?: string; baseUrl?: string }
  | { mode: 'sandbox'; port: number; host: string }

/** Tuning options passed to core's delivery engine (see the README for each default), plus the client's timeout. */
export interface DeliveryConfig extends Omit<DeliveryEngineOptions, 'owner'> {
  /** Time allowed for one Qualtrics request, in ms (the client's `timeoutMs`). Default 10,000. */
  requestTimeoutMs?: number
}

/**
 * Where the queue lives: a SQLite file (the default, one instance) or PostgreSQL (several instances on
 * one database). `DATABASE_URL` or `storage.url` chooses PostgreSQL.
 */
export type StorageConfig =
  | {
      kind: 'sqlite'
      path: string
      /** `full` (default) fsyncs each commit, so a 202 survives power loss; `normal` only a process crash
       * (see the README's trade-off). */
      synchronous: 'full' | 'normal'
    }
  | {
      kind: 'postgres'
      url: string
      schema?: string
      poolSize?: number
      /**
       * Tests only (`RELAY_TEST_ONLY_PER_PROCESS_LIMITS=1`): each instance keeps its own rate budget,
       * contact locks and circuit, as before the fleet shared them, so a test can show what sharing prevents (the
       * reliability suite's cluster storm runs its control this way). Never in production.
       */
      testOnlyPerProcessLimits?: true
    }

export interface ProxyConfig {
  server: {
    host: string
    port: number
    /** Express' `trust proxy`: false, true, a hop count, or a list of addresses/subnets. */
    trustProxy: boolean | number | string
    maxBodyBytes: number
    maxBatchItems: number
    /** Time a client has to send a request's headers, in ms (Node's `headersTimeout`). */
    headersTimeoutMs: number
    /** Time a client has to send a whole request, body included, in ms (Node's `requestTimeout`). */
    requestTimeoutMs: number
    /** Open connections one client address may hold; more are closed at once. 0: no limit. */
    maxConnectionsPerAddress: number
  }
  storage: StorageConfig
  /**
   * Where `check --live` records what it verified, and where start-up reads it: batched (`or`) contact
   * look-ups are used only when this record saw them honoured on the configured account.
   */
  liveCheck: { recordPath: string }
  qualtrics: QualtricsTarget
  /** Absent: the admin API answers 404 and the CLI's admin commands cannot be used. */
  adminToken?: string
  rateLimits: { perIp: TokenBucketConfig | false; perWriteKey: TokenBucketConfig | false }
  delivery: DeliveryConfig
  readiness: { cacheMs: number }
  logLevel: LogLevel
  writeKeys: ReadonlyMap<string, WriteKeyConfig>
  /** Where the config came from, for the start-up log line. */
  source: string
}

// ---------------------------------------------------------------------------------------------------
// The file's schema. Messages are written so that "<path>: <message> (Received: …)" reads well.

const int = (min: number, max: number) =>
  v.pipe(
    v.number(`must be a whole number from ${min} to ${max}`),
    v.integer(`must be a whole number from ${min} to ${max}`),
    v.minValue(min, `must be a whole number from ${min} to ${max}`),
    v.maxValue(max, `must be a whole number from ${min} to ${max}`),
  )
const nonEmpty = (what: string) => v.pipe(v.string(`must be ${what}`), v.minLength(1, `must be ${what}`))
const strictObject = <T extends v.ObjectEntries>(entries: T) => v.strictObject(entries, 'must be an object')

const SCHEMA_MESSAGE = 'must be a lower-case identifier of letters, digits and _'
const ORIGIN_MESSAGE = 'must be an origin such as "https://shop.example" (scheme, host and port only), or "*"'
const Origin = v.pipe(v.string(ORIGIN_MESSAGE), v.check(isOrigin, ORIGIN_MESSAGE))

const Bucket = v.union(
  [
    v.literal(false),
    strictObject({
      perMinute: int(1, 10_000_000),
      burst: int(1, 1_000_000),
    }),
  ],
  'must be false or { "perMinute": number, "burst": number }',
)

const WRITE_KEY = /^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$/
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

const WriteKeySchema = strictObject({
  // The name is the items' source: hashed into their ids, so it must be text UTF-8 can carry as is.
  name: v.optional(
    v.pipe(
      nonEmpty('a non-empty string'),
      v.maxLength(128, 'must be at most 128 characters'),
      v.check(isWellFormedText, 'must be well-formed Unicode: it holds a lone surrogate'),
    ),
  ),
  origins: v.optional(v.array(Origin, 'must be an array of origins'), []),
  mappings: v.unknown(),
  allow: v.optional(
    strictObject({
      directories: v.optional(v.array(v.string('must be a string'), 'must be an array of POOL_… ids'), []),
      mailingLists: v.optional(v.array(v.string('must be a string'), 'must be an array of CG_… ids'), []),
      workflowUrls: v.optional(v.array(v.string('must be a string'), 'must be an array of URLs'), []),
    }),
    {},
  ),
  identity: v.optional(
    strictObject({
      secretEnv: v.pipe(
        v.string('must name an environment variable'),
        v.regex(ENV_NAME, 'must name an environment variable, e.g. "RELAY_IDENTITY_SECRET"'),
      ),
      allowContactId: v.optional(v.boolean('must be true or false'), false),
    }),
  ),
})

const num = (min: number) =>
  v.pipe(
    v.number(`must be a number >= ${min}`),
    v.finite(`must be a number >= ${min}`),
    v.minValue(min, `must be a number >= ${min}`),
  )
const DeliverySchema = strictObject({
  requestsPerMinute: v.optional(num(0.001)),
  burst: v.optional(num(1)),
  maxConcurrentRequests: v.optional(int(1, 10_000)),
  transactionBatchSize: v.optional(int(1, 1000)),
  transactionLingerMs: v.optional(num(0)),
  ambiguousContact: v.optional(v.picklist(['newest', 'fail'], 'must be "newest" or "fail"')),
  contactCacheTtlMs: v.optional(num(0)),
  contactLookupBatchSize: v.optional(int(1, 100)),
  createWithoutSearch: v.optional(
    v.picklist(['never', 'when-deduplicated'], 'must be "never" or "when-deduplicated"'),
  ),
  maxAttempts: v.optional(int(1, 1_000_000)),
  maxAgeMs: v.optional(num(1)),
  retryBaseMs: v.optional(num(0)),
  retryMaxMs: v.optional(num(0)),
  rateLimitRecoveryMs: v.optional(num(1)),
  circuitFailureThreshold: v.optional(int(1, 1_000_000)),
  circuitProbeBaseMs: v.optional(num(1)),
  circuitProbeMaxMs: v.optional(num(1)),
  leaseMs: v.optional(num(1)),
  maxInFlight: v.optional(int(1, 1_000_000)),
  pollIntervalMs: v.optional(num(1)),
  retentionMs: v.optional(num(0)),
  pruneIntervalMs: v.optional(num(1)),
  drainMs: v.optional(num(0)),
  requestTimeoutMs: v.optional(int(1, 600_000)),
})

const FileSchema = strictObject({
  $schema: v.optional(v.string()),
  mode: v.optional(v.picklist(MODES, MODE_MESSAGE)),
  server: v.optional(
    strictObject({
      host: v.optional(nonEmpty('a host name or address')),
      port: v.optional(int(0, 65535)),
      trustProxy: v.optional(
        v.union(
          [v.boolean(), int(0, 100), nonEmpty('')],
          'must be true, false, a hop count, or addresses/subnets separated by commas',
        ),
      ),
      maxBodyBytes: v.optional(int(1024, 10 * 1024 * 1024)),
      maxBatchItems: v.optional(int(1, 10_000)),
      headersTimeoutMs: v.optional(int(1_000, 120_000)),
      requestTimeoutMs: v.optional(int(1_000, 300_000)),
      maxConnectionsPerAddress: v.optional(int(0, 100_000)),
    }),
    {},
  ),
  storage: v.optional(
    strictObject({
      path: v.optional(nonEmpty('a file path or ":memory:"')),
      synchronous: v.optional(v.picklist(['full', 'normal'], 'must be "full" or "normal"')),
      // Checked in parseStorage, where a password in it is masked.
      url: v.optional(v.unknown()),
      schema: v.optional(
        v.pipe(v.string(SCHEMA_MESSAGE), v.regex(/^[a-z_][a-z0-9_]{0,62}$/, SCHEMA_MESSAGE)),
      ),
      poolSize: v.optional(int(1, 1000)),
    }),
    {},
  ),
  liveCheck: v.optional(strictObject({ recordPath: v.optional(nonEmpty('a file path')) }), {}),
  qualtrics: v.optional(
    strictObject({
      datacenter: v.optional(v.string('must be a string')),
      baseUrl: v.optional(v.string('must be a string')),
    }),
    {},
  ),
  sandbox: v.optional(
    strictObject({
      host: v.optional(nonEmpty('a host name or address')),
      port: v.optional(int(0, 65535)),
    }),
    {},
  ),
  rateLimits: v.optional(strictObject({ perIp: v.optional(Bucket), perWriteKey: v.optional(Bucket) }), {}),
  delivery: v.optional(DeliverySchema, {}),
  readiness: v.optional(strictObject({ cacheMs: v.optional(int(0, 3_600_000)) }), {}),
  logLevel: v.optional(v.picklist(LOG_LEVELS, `must be one of ${LOG_LEVELS.join(', ')}`)),
  writeKeys: v.optional(v.record(v.string(), v.unknown())),
})

type FileInput = v.InferOutput<typeof FileSchema>
type WriteKeyInput = v.InferOutput<typeof WriteKeySchema>

// ---------------------------------------------------------------------------------------------------
// Defaults

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8787,
  maxBodyBytes: 100 * 1024,
  maxBatchItems: 100,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxConnectionsPerAddress: 64,
  storagePath: 'qualtrics-relay.db',
  liveCheckRecordPath: 'qualtrics-relay.live-check.json',
  perIp: { perMinute: 600, burst: 120 },
  perWriteKey: { perMinute: 30_000, burst: 3_000 },
  readinessCacheMs: 30_000,
  logLevel: 'info' as LogLevel,
  sandboxHost: '127.0.0.1',
} as const

/**
 * The configuration used in sandbox mode when no file is given: a demo write key `wk_demo` for the demo
 * site on Vite's usual origins, with one mapping per action pointing at the sandbox's seeded ids.
 */
export const DEMO_CONFIG = {
  mode: 'sandbox',
  storage: { path: ':memory:' },
  writeKeys: {
    wk_demo: {
      name: 'Demo site',
      origins: ['http://localhost:5173', 'http://127.0.0.1:5173'],
      mappings: [
        {
          id: 'demo-contact',
          name: 'Identify → contact',
          action: 'addContactToXmd',
          fields: { directoryId: SANDBOX_PLACEHOLDERS.directoryId },
        },
        {
          id: 'demo-transaction',
          name: 'Transaction Created → transaction',
          action: 'upsertContactTransaction',
          fields: {
            directoryId: SANDBOX_PLACEHOLDERS.directoryId,
            mailingListId: SANDBOX_PLACEHOLDERS.mailingListId,
          },
        },
        {
          id: 'demo-feedback',
          name: 'Feedback Requested → workflow',
          action: 'triggerXflowWorkflow',
          trigger: 'type = "track" and event = "Feedback Requested"',
          fields: { workflowUrl: SANDBOX_PLACEHOLDERS.workflowUrl },
        },
      ],
    },
  },
}

// ---------------------------------------------------------------------------------------------------
// Parsing

const DATACENTER = /^[a-z0-9][a-z0-9-]{0,62}$/
const PRINTABLE = /^[\x21-\x7e]+$/

/**
 * Parses the config file's text (or `undefined` when there is no file) together with the environment.
 * Pure: reads nothing but its arguments. Throws one ConfigError listing every problem.
 */
export interface ConfigOverrides {
  /** The mode asked for on the command line (`--sandbox`); wins over RELAY_MODE and the file. */
  mode?: ProxyMode
}

export function parseConfig(
  env: Env,
  fileText: string | undefined,
  source = 'config file',
  overrides: ConfigOverrides = {},
): ProxyConfig {
  const issues: FieldIssue[] = []
  const bad = (path: string, message: string) => issues.push({ path, message })

  // --- the file: each section is checked on its own, so one bad section hides no other problem
  let file: Partial<FileInput> = {}
  if (fileText !== undefined) {
    let raw: unknown
    try {
      raw = JSON.parse(fileText)
    } catch (error) {
      const why = error instanceof SyntaxError ? error.message : 'unreadable'
      throw new ConfigError(`Invalid configuration in ${source}`, [
        { path: '(file)', message: `is not JSON: ${why}` },
      ])
    }
    file = parseSections(raw, issues)
  }

  // --- the mode: sandbox only when asked for by name (flag, RELAY_MODE or the file's "mode")
  let envMode = (env[ENV.mode] || undefined) as ProxyMode | undefined
  if (envMode !== undefined && !MODES.includes(envMode)) {
    bad(`env.${ENV.mode}`, `${MODE_MESSAGE} (Received: ${describeValue(envMode)})`)
    envMode = undefined
  }
  const mode: ProxyMode = overrides.mode ?? envMode ?? file.mode ?? 'qualtrics'
  const sandboxMode = mode === 'sandbox'
  const askSandbox = `for a local try without Qualtrics, start with --sandbox (or "mode": "sandbox")`
  if (fileText === undefined) {
    if (sandboxMode) file = parseSections(DEMO_CONFIG, issues)
    else
      bad(
        '(file)',
        `is required: give one with --config <path> or ${ENV.config} (it lists the write keys); ${askSandbox}`,
      )
  }

  // --- secrets from the environment
  const apiToken = env[ENV.apiToken] || undefined
  const inSandbox = `is not used in mode "sandbox", which talks to its own sandbox only: unset it, or use mode "qualtrics"`
  if (sandboxMode) {
    if (apiToken !== undefined) bad(`env.${ENV.apiToken}`, `${inSandbox} (Received: ${maskSecret(apiToken)})`)
  } else if (apiToken === undefined) {
    bad(
      `env.${ENV.apiToken}`,
      `is required in mode "qualtrics" (the default): the Qualtrics API token; ${askSandbox} (Received: undefined)`,
    )
  } else if (!PRINTABLE.test(apiToken)) {
    bad(`env.${ENV.apiToken}`, `must be printable ASCII without spaces (Received: ${maskSecret(apiToken)})`)
  }
  const adminToken = env[ENV.adminToken] === '' ? undefined : env[ENV.adminToken]
  if (adminToken !== undefined && !(PRINTABLE.test(adminToken) && adminToken.length >= 16)) {
    bad(
      `env.${ENV.adminToken}`,
      `must be at least 16 printable characters without spaces (Received: ${maskSecret(adminToken)})`,
    )
  }

  // --- Qualtrics target
  const datacenter = env[ENV.datacenter] || file.qualtrics?.datacenter
  const baseUrl = env[ENV.baseUrl] || file.qualtrics?.baseUrl
  const datacenterPath = env[ENV.datacenter] ? `env.${ENV.datacenter}` : 'qualtrics.datacenter'
  const baseUrlPath = env[ENV.baseUrl] ? `env.${ENV.baseUrl}` : 'qualtrics.baseUrl'
  let extraOrigin: string | undefined
  if (datacenter !== undefined && !DATACENTER.test(datacenter)) {
    bad(
      datacenterPath,
      `must look like "iad1": lower-case letters, digits and "-" (Received: ${describeValue(datacenter)})`,
    )
  } else if (datacenter !== undefined && sandboxMode) {
    bad(datacenterPath, `${inSandbox} (Received: ${describeValue(datacenter)})`)
  }
  if (baseUrl !== undefined) {
    const url = safeUrl(baseUrl)
    if (!url || !/^https?:$/.test(url.protocol) || url.username || url.password || url.search || url.hash) {
      bad(
        baseUrlPath,
        `must be an http(s) URL without user info, query or fragment (Received: ${describeUrl(baseUrl)})`,
      )
    } else if (sandboxMode) bad(baseUrlPath, `${inSandbox} (Received: ${describeUrl(baseUrl)})`)
    else extraOrigin = url.origin
  }
  if (!sandboxMode && datacenter === undefined && baseUrl === undefined) {
    bad(
      `env.${ENV.datacenter}`,
      `is required in mode "qualtrics", e.g. "iad1" (or ${ENV.baseUrl}) (Received: undefined)`,
    )
  }

  const headersMs = file.server?.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs
  const requestMs = file.server?.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs
  if (headersMs > requestMs) {
    bad(
      'server.headersTimeoutMs',
      `must not exceed server.requestTimeoutMs (${requestMs}): the headers are part of the request (Received: ${headersMs})`,
    )
  }

  // --- server values overridable by env
  let port = file.server?.port ?? DEFAULTS.port
  if (env[ENV.port] !== undefined && env[ENV.port] !== '') {
    const n = Number(env[ENV.port])
    if (!Number.isInteger(n) || n < 0 || n > 65535) {
      bad(
        `env.${ENV.port}`,
        `must be a whole number from 0 to 65535 (Received: ${describeValue(env[ENV.port])})`,
      )
    } else port = n
  }
  let logLevel: LogLevel = file.logLevel ?? DEFAULTS.logLevel
  const envLevel = env[ENV.logLevel]
  if (envLevel !== undefined && envLevel !== '') {
    if ((LOG_LEVELS as readonly string[]).includes(envLevel)) logLevel = envLevel as LogLevel
    else
      bad(
        `env.${ENV.logLevel}`,
        `must be one of ${LOG_LEVELS.join(', ')} (Received: ${describeValue(envLevel)})`,
      )
  }

  const storage = parseStorage(env, file.storage ?? {}, bad)

  // --- write keys
  const workflowOrigins = extraOrigin === undefined ? [] : [extraOrigin]
  const writeKeys = new Map<string, WriteKeyConfig>()
  for (const [key, value] of Object.entries(file.writeKeys ?? {})) {
    const at = `writeKeys.${key}`
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      bad(at, `must be an object { origins, mappings, allow, identity } (Received: ${describeValue(value)})`)
      continue
    }
    // Every part is checked even when another part is wrong, so all problems show at once.
    const before = issues.length
    const shape = parseEach(
      WriteKeySchema.entries,
      value as Record<string, unknown>,
      ['writeKeys', key],
      issues,
    )
    const failed = issues.length > before
    const parsedKey = parseWriteKey(
      key,
      {
        origins: [],
        allow: { directories: [], mailingLists: [], workflowUrls: [] },
        ...shape,
      } as unknown as WriteKeyInput,
      at,
      { env, sandboxMode, workflowOrigins },
      issues,
    )
    if (failed) continue
    if (parsedKey) writeKeys.set(key, parsedKey)
  }
  const names = new Map<string, string>()
  for (const wk of writeKeys.values()) {
    const other = names.get(wk.name)
    if (other !== undefined) {
      bad(
        `writeKeys.${wk.key}.name`,
        `repeats the name of writeKeys.${other}; names identify sources in status and metrics (Received: ${describeValue(wk.name)})`,
      )
    }
    names.set(wk.name, wk.key)
  }
  if (file.writeKeys !== undefined && Object.keys(file.writeKeys).length === 0) {
    bad('writeKeys', 'must hold at least one write key (Received: {})')
  }

  if (issues.length > 0) {
    const count = `${issues.length} problem${issues.length === 1 ? '' : 's'}`
    throw new ConfigError(`Invalid configuration in ${source} (${count})`, issues)
  }

  const qualtrics: QualtricsTarget = sandboxMode
    ? { mode: 'sandbox', host: file.sandbox?.host ?? DEFAULTS.sandboxHost, port: file.sandbox?.port ?? 0 }
    : {
        mode: 'qualtrics',
        apiToken: apiToken as string,
        ...(datacenter === undefined ? {} : { datacenter }),
        ...(baseUrl === undefined ? {} : { baseUrl }),
      }
  const config: ProxyConfig = {
    server: {
      host: env[ENV.host] || file.server?.host || DEFAULTS.host,
      port,
      trustProxy: file.server?.trustProxy ?? false,
      maxBodyBytes: file.server?.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
      maxBatchItems: file.server?.maxBatchItems ?? DEFAULTS.maxBatchItems,
      headersTimeoutMs: file.server?.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs,
      requestTimeoutMs: file.server?.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
      maxConnectionsPerAddress: file.server?.maxConnectionsPerAddress ?? DEFAULTS.maxConnectionsPerAddress,
    },
    storage,
    liveCheck: { recordPath: file.liveCheck?.recordPath ?? DEFAULTS.liveCheckRecordPath },
    qualtrics,
    rateLimits: {
      perIp: file.rateLimits?.perIp ?? { ...DEFAULTS.perIp },
      perWriteKey: file.rateLimits?.perWriteKey ?? { ...DEFAULTS.perWriteKey },
    },
    delivery: stripUndefined(file.delivery ?? {}) as DeliveryConfig,
    readiness: { cacheMs: file.readiness?.cacheMs ?? DEFAULTS.readinessCacheMs },
    logLevel,
    writeKeys,
    source: fileText === undefined ? 'the built-in demo configuration' : source,
  }
  if (adminToken !== undefined) config.adminToken = adminToken
  return config
}

interface WriteKeyContext {
  env: Env
  sandboxMode: boolean
  workflowOrigins: readonly string[]
}

function parseWriteKey(
  key: string,
  wk: WriteKeyInput,
  at: string,
  ctx: WriteKeyContext,
  issues: FieldIssue[],
): WriteKeyConfig | undefined {
  const before = issues.length
  const bad = (path: string, message: string) => issues.push({ path, message })

  let mappings: MappingSpec[] = []
  try {
    mappings = parseMappingSet(wk.mappings, `${at}.mappings`)
  } catch (error) {
    if (!(error instanceof MappingError)) throw error
    issues.push(...error.issues)
  }

  const placeholderOk = (value: string, path: string, kind: keyof typeof SANDBOX_PLACEHOLDERS): boolean => {
    if (!value.startsWith('$sandbox.')) return false
    if (value !== SANDBOX_PLACEHOLDERS[kind]) {
      bad(
        path,
        `is not a sandbox placeholder; use ${describeValue(SANDBOX_PLACEHOLDERS[kind])} (Received: ${describeValue(value)})`,
      )
    } else if (!ctx.sandboxMode) {
      bad(path, `${value} can only be used in mode "sandbox" (Received: ${describeValue(value)})`)
    }
    return true
  }

  // Allowlists: the listed values plus every literal value of the field in this key's mappings.
  const directories = new Set<string>()
  const mailingLists = new Set<string>()
  const workflowUrls = new Set<string>()
  const addId = (
    set: Set<string>,
    value: string,
    path: string,
    prefix: string,
    kind: 'directoryId' | 'mailingListId',
  ) => {
    if (placeholderOk(value, path, kind)) set.add(value)
    else if (!new RegExp(`^${prefix}[A-Za-z0-9]{1,40}$`).test(value)) {
      bad(path, `must be a Qualtrics id like ${prefix}… (Received: ${describeValue(value)})`)
    } else set.add(value)
  }
  const addWorkflow = (value: string, path: string) => {
    if (placeholderOk(value, path, 'workflowUrl')) workflowUrls.add(value)
    else if (ctx.sandboxMode) {
      // Refused rather than rerouted: sandbox mode calls no host but its own sandbox.
      bad(
        path,
        `must be ${describeValue(SANDBOX_PLACEHOLDERS.workflowUrl)} in mode "sandbox", which calls no host but its own sandbox (Received: ${describeUrl(value)})`,
      )
    } else if (!isQualtricsUrl(value, ctx.workflowOrigins)) {
      const where = ctx.workflowOrigins.length ? ` or ${ctx.workflowOrigins.join(', ')}` : ''
      bad(path, `must be an https URL on a *.qualtrics.com host${where} (Received: ${describeUrl(value)})`)
    } else workflowUrls.add(new URL(value).href)
  }
  wk.allow.directories.forEach((d, i) =>
    addId(directories, d, `${at}.allow.directories.${i}`, 'POOL_', 'directoryId'),
  )
  wk.allow.mailingLists.forEach((d, i) =>
    addId(mailingLists, d, `${at}.allow.mailingLists.${i}`, 'CG_', 'mailingListId'),
  )
  wk.allow.workflowUrls.forEach((u, i) => addWorkflow(u, `${at}.allow.workflowUrls.${i}`))
  // Literal ids in the mappings as written (checked even when another mapping is wrong).
  const written = Array.isArray(wk.mappings) ? (wk.mappings as unknown[]) : []
  written.forEach((m, i) => {
    const raw = (m as { fields?: unknown } | null)?.fields
    if (typeof raw !== 'object' || raw === null) return
    const fields = raw as Record<string, unknown>
    const path = (f: string) => `${at}.mappings.${i}.fields.${f}`
    if (typeof fields.directoryId === 'string')
      addId(directories, fields.directoryId, path('directoryId'), 'POOL_', 'directoryId')
    if (typeof fields.mailingListId === 'string')
      addId(mailingLists, fields.mailingListId, path('mailingListId'), 'CG_', 'mailingListId')
    if (typeof fields.workflowUrl === 'string') addWorkflow(fields.workflowUrl, path('workflowUrl'))
  })
  // A mapping that could never deliver is a configuration mistake worth stopping for.
  mappings.forEach((m, i) => {
    const needs: [string, Set<string>, string][] =
      m.action === 'triggerXflowWorkflow'
        ? [['workflowUrl', workflowUrls, 'workflowUrls']]
        : m.action === 'upsertContactTransaction'
          ? [
              ['directoryId', directories, 'directories'],
              ['mailingListId', mailingLists, 'mailingLists'],
            ]
          : [['directoryId', directories, 'directories']]
    for (const [field, set, list] of needs) {
      if (set.size === 0) {
        bad(
          `${at}.mappings.${i}.fields.${field}`,
          `${m.action} needs a ${field}, but ${at}.allow.${list} is empty and no mapping sets it to a literal, so nothing could be delivered`,
        )
      }
    }
  })

  let identity: WriteKeyConfig['identity']
  if (wk.identity) {
    const secret = ctx.env[wk.identity.secretEnv]
    if (secret === undefined || secret.length < 16) {
      bad(
        `${at}.identity.secretEnv`,
        `names ${wk.identity.secretEnv}, which must hold a secret of at least 16 characters (Received: ${maskSecret(secret)})`,
      )
    } else identity = { secret, allowContactId: wk.identity.allowContactId }
  }

  if (wk.origins.includes('*') && wk.origins.length > 1) {
    bad(
      `${at}.origins`,
      `"*" allows every origin, so it must be the only entry (Received: ${describeValue(wk.origins)})`,
    )
  }

  if (issues.length > before) return undefined
  const config: WriteKeyConfig = {
    key,
    name: wk.name ?? key,
    origins: wk.origins.map((o) => (o === '*' ? o : new URL(o).origin)),
    mappings,
    allow: { directories, mailingLists, workflowUrls },
  }
  if (identity) config.identity = identity
  return config
}

/**
 * Replaces the `$sandbox.*` placeholders of every write key (mappings and allowlists) with the values of
 * the running sandbox. Returns a new config; the input is not changed.
 */
export function applySandboxValues(config: ProxyConfig, values: SandboxValues): ProxyConfig {
  const byPlaceholder = new Map<string, string>()
  if (values.directoryId) byPlaceholder.set(SANDBOX_PLACEHOLDERS.directoryId, values.directoryId)
  if (values.mailingListId) byPlaceholder.set(SANDBOX_PLACEHOLDERS.mailingListId, values.mailingListId)
  if (values.workflowUrl)
    byPlaceholder.set(SANDBOX_PLACEHOLDERS.workflowUrl, new URL(values.workflowUrl).href)
  const missing = new Set<string>()
  const swap = (s: string) => {
    const value = byPlaceholder.get(s)
    if (value === undefined && s.startsWith('$sandbox.')) missing.add(s)
    return value ?? s
  }
  const swapSet = (set: ReadonlySet<string>) => new Set([...set].map(swap))
  const writeKeys = new Map<string, WriteKeyConfig>()
  for (const [key, wk] of config.writeKeys) {
    writeKeys.set(key, {
      ...wk,
      mappings: wk.mappings.map((m) => {
        const fields = replaceStrings(m.fields, swap) as Record<string, unknown>
        // The program is what browsers run: compiled again from the fields with the values in.
        return { ...m, fields, program: compileMapping(fields) }
      }),
      allow: {
        directories: swapSet(wk.allow.directories),
        mailingLists: swapSet(wk.allow.mailingLists),
        workflowUrls: swapSet(wk.allow.workflowUrls),
      },
    })
  }
  if (missing.size > 0) {
    throw new ConfigError('The sandbox has no value for some placeholders', [
      ...[...missing].map((p) => ({ path: p, message: 'has no value in this sandbox (is it seeded?)' })),
    ])
  }
  return { ...config, writeKeys }
}

function replaceStrings(value: unknown, swap: (s: string) => string): unknown {
  if (typeof value === 'string') return swap(value)
  if (Array.isArray(value)) return value.map((x) => replaceStrings(x, swap))
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, replaceStrings(x, swap)]))
  }
  return value
}

// ---------------------------------------------------------------------------------------------------
// Reading: the only place that touches process.env and the file system for configuration.

export interface LoadedConfig {
  config: ProxyConfig
}

/**
 * Finds the config file (`--config <path>` wins over `RELAY_CONFIG`), reads it and the environment, and
 * parses both. A relative SQLite `storage.path` or `liveCheck.recordPath` is resolved against the config file's folder.
 */
export function loadConfig(options: { configPath?: string; env?: Env; mode?: ProxyMode } = {}): ProxyConfig {
  const env = options.env ?? process.env
  const path = options.configPath ?? (env[ENV.config] || undefined)
  let text: string | undefined
  if (path !== undefined) {
    try {
      text = readFileSync(path, 'utf8')
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable'
      throw new ConfigError(`Cannot read the configuration file`, [
        { path: '(file)', message: `${code} (Received: ${describeValue(path)})` },
      ])
    }
  }
  const overrides: ConfigOverrides = options.mode === undefined ? {} : { mode: options.mode }
  const config = parseConfig(env, text, path ?? 'the environment (no config file)', overrides)
  if (path !== undefined && config.storage.kind === 'sqlite' && config.storage.path !== ':memory:') {
    config.storage = { ...config.storage, path: resolve(dirname(path), config.storage.path) }
  }
  if (path !== undefined)
    config.liveCheck = { recordPath: resolve(dirname(path), config.liveCheck.recordPath) }
  return config
}

/** The admin token for the CLI's admin commands (read here so no other module reads the environment). */
export function readAdminToken(env?: Env): string | undefined {
  const token = (env ?? process.env)[ENV.adminToken]
  return token === undefined || token === '' ? undefined : token
}

// ---------------------------------------------------------------------------------------------------
// Helpers

/**
 * The store: PostgreSQL when `DATABASE_URL` (which wins) or `storage.url` is set, else the SQLite file.
 * A URL is shown only with its password masked.
 */
function parseStorage(
  env: Env,
  section: NonNullable<FileInput['storage']>,
  bad: (path: string, message: string) => void,
): StorageConfig {
  const fromEnv = env[ENV.databaseUrl] !== undefined && env[ENV.databaseUrl] !== ''
  const url: unknown = fromEnv ? env[ENV.databaseUrl] : section.url
  const perProcess = env[ENV.testOnlyPerProcessLimits] || undefined
  if (perProcess !== undefined && (perProcess !== '1' || url === undefined)) {
    bad(
      `env.${ENV.testOnlyPerProcessLimits}`,
      `is a test switch: "1" with PostgreSQL storage, or unset (Received: ${describeValue(perProcess)}${url === undefined ? ', with SQLite storage' : ''})`,
    )
  }
  if (url === undefined) {
    for (const key of ['schema', 'poolSize'] as const) {
      if (section[key] !== undefined)
        bad(`storage.${key}`, `is a PostgreSQL option: set ${ENV.databaseUrl} or storage.url too`)
    }
    return {
      kind: 'sqlite',
      path: section.path ?? DEFAULTS.storagePath,
      synchronous: section.synchronous ?? 'full',
    }
  }
  const at = fromEnv ? `env.${ENV.databaseUrl}` : 'storage.url'
  const parsed = typeof url === 'string' ? safeUrl(url) : undefined
  if (parsed === undefined || !/^postgres(ql)?:$/.test(parsed.protocol)) {
    const received = typeof url === 'string' ? maskDatabaseUrl(url) : describeValue(url)
    bad(at, `must be a postgres://user:password@host:port/database URL (Received: ${received})`)
  }
  if (section.synchronous !== undefined) {
    bad('storage.synchronous', `is a SQLite option; PostgreSQL's durability is the server's to set`)
  }
  if (!fromEnv && section.path !== undefined) {
    bad('storage.path', 'is the SQLite file: give storage.path or storage.url, not both')
  }
  const storage: StorageConfig = { kind: 'postgres', url: String(url) }
  if (section.schema !== undefined) storage.schema = section.schema
  if (section.poolSize !== undefined) storage.poolSize = section.poolSize
  if (perProcess !== undefined) storage.testOnlyPerProcessLimits = true
  return storage
}

/** Describes a secret without showing it. */
export function maskSecret(value: unknown): string {
  if (value === undefined) return 'undefined'
  if (typeof value === 'string') return value === '' ? '""' : `a string of ${value.length} characters, hidden`
  return `a ${value === null ? 'null' : typeof value}, hidden`
}

function isOrigin(value: string): boolean {
  if (value === '*') return true
  const url = safeUrl(value)
  return url !== undefined && /^https?:$/.test(url.protocol) && url.origin === value.replace(/\/$/, '')
}

function safeUrl(value: string): URL | undefined {
  try {
    return new URL(value)
  } catch {
    return undefined
  }
}

/** A URL for a message: without user info and query, which may hold secrets. */
function describeUrl(value: string): string {
  const url = safeUrl(value)
  if (url === undefined) return describeValue(value)
  const userInfo = url.username || url.password ? '…@' : ''
  return describeValue(`${url.protocol}//${userInfo}${url.host}${url.pathname}${url.search ? '?…' : ''}`)
}

const SECRET_KEY = /token|secret|password/i

/** Checks each top-level section with its schema; keeps the good ones, lists every problem. */
function parseSections(raw: unknown, issues: FieldIssue[]): Partial<FileInput> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    issues.push({ path: '(file)', message: `must be a JSON object (Received: ${describeValue(raw)})` })
    return {}
  }
  const { writeKeys, ...rest } = raw as Record<string, unknown>
  const out = parseEach(FileSchema.entries, rest, [], issues) as Partial<FileInput>
  const keys = parseWriteKeyNames(writeKeys, issues)
  if (keys) out.writeKeys = keys
  return out
}

/**
 * Checks each property of an object on its own, so one bad property hides no other problem. Returns
 * the good properties (with defaults), and pushes every problem to `issues`.
 */
function parseEach(
  entries: v.ObjectEntries,
  input: Record<string, unknown>,
  prefix: readonly string[],
  issues: FieldIssue[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(input)) {
    if (!Object.prototype.hasOwnProperty.call(entries, key)) {
      issues.push({ path: [...prefix, key].join('.'), message: 'is not a config option' })
    }
  }
  for (const [key, schema] of Object.entries(entries)) {
    if (prefix.length === 0 && key === 'writeKeys') continue
    const result = v.safeParse(schema as v.GenericSchema, input[key])
    if (result.success) out[key] = result.output
    else issues.push(...result.issues.map((issue) => describeIssue(issue, [...prefix, key])))
  }
  return out
}

/** The write keys whose names are valid (their contents are checked later, one by one). */
function parseWriteKeyNames(value: unknown, issues: FieldIssue[]): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    issues.push({
      path: 'writeKeys',
      message: `is required: an object of write keys, e.g. { "wk_site": { … } } (Received: ${describeValue(value)})`,
    })
    return undefined
  }
  const out: Record<string, unknown> = {}
  for (const [key, entry] of Object.entries(value)) {
    if (WRITE_KEY.test(key)) out[key] = entry
    else {
      issues.push({
        path: `writeKeys.${key}`,
        message: `is not a valid write key: use 3-128 letters, digits, "_" or "-" (Received: ${describeValue(key)})`,
      })
    }
  }
  return out
}

function describeIssue(issue: v.BaseIssue<unknown>, prefix: readonly string[] = []): FieldIssue {
  const keys = [...prefix, ...(issue.path ?? []).map((p) => String(p.key))]
  const path = keys.join('.') || '(root)'
  if (issue.type === 'strict_object' && issue.expected === 'never') {
    return { path, message: 'is not a config option' }
  }
  if (issue.type === 'record' && issue.expected !== 'Object' && issue.kind === 'validation') {
    return { path, message: `${issue.message}` }
  }
  const last = keys[keys.length - 1] ?? ''
  const received = SECRET_KEY.test(last) ? maskSecret(issue.input) : describeValue(issue.input)
  return { path, message: `${issue.message} (Received: ${received})` }
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, x]) => x !== undefined)) as T
}
