// The engine's options: documented with their defaults, validated once, every problem listed.

import { ConfigError, describeValue, type FieldIssue } from '../../errors'
import type { ListedContactTransaction, QualtricsApi } from '../qualtrics/types'
import type { DeliveryStore } from '../store/types'
import type { Circuit } from './circuit'
import type { SharedKeyLocks } from './contacts'
import type { RateBudget } from './rate-limiter'
import type { Clock } from './clock'
import type { CreateWithoutSearch } from './create-without-search'

/** A pino-compatible logger (`logger.info({ fields }, 'message')`); the engine logs no token or e-mail. */
export interface DeliveryLogger {
  debug(fields: Record<string, unknown>, message: string): void
  info(fields: Record<string, unknown>, message: string): void
  warn(fields: Record<string, unknown>, message: string): void
  error(fields: Record<string, unknown>, message: string): void
}

export const noopLogger: DeliveryLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
}

/**
 * Tuning options of the delivery engine. Every one is optional.
 *
 * | option                   | default                  | meaning |
 * |--------------------------|--------------------------|---------|
 * | `requestsPerMinute`      | `2400`                   | steady Qualtrics request rate of this engine: 80% of the brand limit (3,000/min), leaving room for other API users of the brand |
 * | `burst`                  | `requestsPerMinute / 60` | token-bucket capacity: requests that may go out at once after a quiet second |
 * | `maxConcurrentRequests`  | `10`                     | Qualtrics requests in flight at once |
 * | `transactionBatchSize`   | `100`                    | transactions per `createContactTransactions` request (1–1000) |
 * | `transactionLingerMs`    | `200`                    | how long a partly filled batch waits for more transactions of its directory |
 * | `ambiguousContact`       | `'newest'`               | several contacts match one identifier: `'newest'` picks the most recently modified (then created), `'fail'` dead-letters the item with `CONTACT_AMBIGUOUS` |
 * | `contactCacheTtlMs`      | `86_400_000` (24 h)      | how long a resolved contact id is reused without asking Qualtrics |
 * | `orLookups`              | `false`                  | batched lookups: one search for many users, an `or` of leaf filters. Qualtrics documents only `and` (spec §2.4), so set this only from a live-check record that saw the brand honour `or` (`orLookupsVerified`); a user such a search did not find is searched for with a leaf before a create |
 * | `contactLookupBatchSize` | `50`                     | with `orLookups`: identifiers in one `or` search; `1` sends one search per identifier. A directory that refuses `or` falls back to one per identifier by itself |
 * | `createWithoutSearch`    | `'never'`                | `'when-deduplicated'`: a user whose only lookup identifier is the one field the directory deduplicates on (`GET /directories`) is created without a search, the directory's merge finding an existing contact (one request instead of two); see create-without-search.ts for the conditions |
 * | `maxAttempts`            | `10`                     | failed attempts before an item is dead-lettered; 429s and failures while the circuit is open (or that opened it) do not count |
 * | `maxAgeMs`               | `86_400_000` (24 h)      | an item that fails after this age since it was accepted (or replayed) is dead-lettered instead of retried |
 * | `retryBaseMs`            | `1000`                   | first retry delay; doubles per attempt, with jitter (50–100% of the step) |
 * | `retryMaxMs`             | `300_000` (5 min)        | longest retry delay, and longest pause after 429s without Retry-After |
 * | `rateLimitRecoveryMs`    | `60_000`                 | after a 429 the whole engine runs at half rate (or less) and climbs back to full over this time |
 * | `circuitFailureThreshold` | `5`                     | outage failures in a row (5xx, timeouts, network errors; no answer in between) that open the circuit: sending stops, and items held back spend no attempts |
 * | `circuitProbeBaseMs`     | `5000`                   | while the circuit is open, one request probes Qualtrics after this; the wait doubles after each failed probe |
 * | `circuitProbeMaxMs`      | `300_000` (5 min)        | longest wait between probes |
 * | `leaseMs`                | `60_000`                 | how long claimed work stays reserved; renewed while it is in progress; a crashed process's work is due again after it |
 * | `maxInFlight`            | `1000`                   | items held in memory at once (claimed, resolving or batched) |
 * | `pollIntervalMs`         | `1000`                   | when idle, how often to look for work (retries come due, other processes' expired leases) |
 * | `retentionMs`            | `604_800_000` (7 days)   | delivered items are kept this long: the window in which a re-sent event is recognised as a duplicate |
 * | `pruneIntervalMs`        | `3_600_000` (1 h)        | how often `start()`ed engines delete delivered items past `retentionMs` and expired cache entries |
 * | `drainMs`                | `10_000`                 | default time `stop()` waits for in-flight work before handing it back to the store |
 * | `owner`                  | random                   | the name this engine leases work under (unique per process) |
 */
export interface DeliveryEngineOptions {
  requestsPerMinute?: number
  burst?: number
  maxConcurrentRequests?: number
  transactionBatchSize?: number
  transactionLingerMs?: number
  ambiguousContact?: 'newest' | 'fail'
  contactCacheTtlMs?: number
  contactLookupBatchSize?: number
  orLookups?: boolean
  createWithoutSearch?: CreateWithoutSearch
  maxAttempts?: number
  maxAgeMs?: number
  retryBaseMs?: number
  retryMaxMs?: number
  rateLimitRecoveryMs?: number
  circuitFailureThreshold?: number
  circuitProbeBaseMs?: number
  circuitProbeMaxMs?: number
  leaseMs?: number
  maxInFlight?: number
  pollIntervalMs?: number
  retentionMs?: number
  pruneIntervalMs?: number
  drainMs?: number
  owner?: string
}

/** A transaction as Qualtrics lists it for a contact. */
export type ListedTransaction = ListedContactTransaction

/**
 * Optional capability of the client: a contact's transactions (every page). With it, a transaction
 * whose write failed ambiguously (timeout, 5xx, unreadable answer) is looked for before it is sent
 * again, so no duplicate is written even if Qualtrics does not deduplicate transaction keys.
 */
export interface ContactTransactionLister {
  listContactTransactions(directoryId: string, contactId: string): Promise<ListedTransaction[]>
}

/** What `createDeliveryEngine` takes: the collaborators plus the tuning options. */
export interface DeliveryEngineConfig extends DeliveryEngineOptions {
  /** The Qualtrics client (`createQualtricsClient`); `listContactTransactions` is used when present. */
  client: QualtricsApi & Partial<ContactTransactionLister>
  /** Where items, dead letters and the contact cache live (`createMemoryStore`, `createSqliteStore`). */
  store: DeliveryStore
  /** Default `systemClock`. */
  clock?: Clock
  /** Default: logs nothing. */
  logger?: DeliveryLogger
  /** Jitter source in [0, 1); default `Math.random`. */
  random?: () => number
  /** The operator's allowlist for workflow URLs; a refused URL is dead-lettered. Default: every URL the client accepts. */
  isWorkflowUrlAllowed?: (url: string) => boolean | Promise<boolean>
  /** The Qualtrics circuit; pass a shared one so several engines (processes) open and close it together.
   * Default: `createCircuit` in memory with the `circuit*` options (which are ignored when this is given). */
  circuit?: Circuit
  /** The budget of Qualtrics requests; pass a shared one (e.g. the PostgreSQL store's
   * `createRateBudget`) so several engines (processes) keep one brand-wide limit together. Default: an
   * in-process token bucket with `requestsPerMinute`, `burst` and `rateLimitRecoveryMs`. */
  rateBudget?: RateBudget
  /** Locks shared with engines in other processes around a contact look-up and create (the PostgreSQL
   * store's `createKeyLocks`), so a fleet creates one contact per new user. Default: in-process only. */
  contactLocks?: SharedKeyLocks
}

export type ResolvedOptions = Required<Omit<DeliveryEngineOptions, 'owner'>> & { owner: string | undefined }

const DAY = 86_400_000

export type NumberRule = { min: number; max?: number; integer?: boolean }

const NUMBER_RULES: Record<
  Exclude<keyof DeliveryEngineOptions, 'ambiguousContact' | 'owner' | 'orLookups' | 'createWithoutSearch'>,
  NumberRule
> = {
  requestsPerMinute: { min: 0.001 },
  burst: { min: 1 },
  maxConcurrentRequests: { min: 1, integer: true },
  transactionBatchSize: { min: 1, max: 1000, integer: true },
  transactionLingerMs: { min: 0 },
  contactCacheTtlMs: { min: 0 },
  contactLookupBatchSize: { min: 1, max: 100, integer: true },
  maxAttempts: { min: 1, integer: true },
  maxAgeMs: { min: 1 },
  retryBaseMs: { min: 0 },
  retryMaxMs: { min: 0 },
  rateLimitRecoveryMs: { min: 1 },
  circuitFailureThreshold: { min: 1, integer: true },
  circuitProbeBaseMs: { min: 1 },
  circuitProbeMaxMs: { min: 1 },
  leaseMs: { min: 1 },
  maxInFlight: { min: 1, integer: true },
  pollIntervalMs: { min: 1 },
  retentionMs: { min: 0 },
  pruneIntervalMs: { min: 1 },
  drainMs: { min: 0 },
}

const COLLABORATORS = [
  'client',
  'store',
  'clock',
  'logger',
  'random',
  'isWorkflowUrlAllowed',
  'circuit',
  'rateBudget',
  'contactLocks',
] as const
const KNOWN = new Set<string>([
  ...Object.keys(NUMBER_RULES),
  'ambiguousContact',
  'owner',
  'orLookups',
  'createWithoutSearch',
  ...COLLABORATORS,
])

const CLIENT_METHODS = [
  'createDirectoryContact',
  'searchDirectoryContacts',
  'createContactTransactions',
  'triggerWorkflow',
]
const STORE_METHODS = [
  'accept',
  'claim',
  'markDelivered',
  'scheduleRetry',
  'markDead',
  'release',
  'renewLeases',
  'getByMessageId',
  'listDeadLetters',
  'replayDeadLetters',
  'nextDueAt',
  'counts',
  'getContact',
  'putContacts',
  'deleteContacts',
  'prune',
]

function describeRule(rule: NumberRule): string {
  const kind = rule.integer ? 'an integer' : 'a number'
  return rule.max === undefined ? `${kind} >= ${rule.min}` : `${kind} from ${rule.min} to ${rule.max}`
}

/** Every number in `raw` outside its rule (absent ones are fine: they take their defaults). */
export function numberIssues(raw: Record<string, unknown>, rules: Record<string, NumberRule>): FieldIssue[] {
  const issues: FieldIssue[] = []
  for (const [key, rule] of Object.entries(rules)) {
    const value = raw[key]
    if (value === undefined) continue
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      value >= rule.min &&
      (rule.max === undefined || value <= rule.max) &&
      (!rule.integer || Number.isInteger(value))
    if (!ok)
      issues.push({ path: key, message: `must be ${describeRule(rule)} (Received: ${describeValue(value)})` })
  }
  return issues
}

function missingMethods(value: unknown, methods: readonly string[]): string[] {
  if (typeof value !== 'object' || value === null) return [...methods]
  const record = value as Record<string, unknown>
  return methods.filter((m) => typeof record[m] !== 'function')
}

/** Validates the engine's configuration once and fills in defaults; throws ConfigError listing every bad key. */
export function parseDeliveryOptions(config: DeliveryEngineConfig): ResolvedOptions {
  const issues: FieldIssue[] = []
  const raw = (typeof config === 'object' && config !== null ? config : {}) as unknown as Record<
    string,
    unknown
  >

  for (const key of Object.keys(raw)) {
    if (!KNOWN.has(key))
      issues.push({
        path: key,
        message: `is not an option of the delivery engine (Received: ${describeValue(raw[key])})`,
      })
  }
  const clientMissing = missingMethods(raw.client, CLIENT_METHODS)
  if (clientMissing.length > 0) {
    issues.push({
      path: 'client',
      message: `must be a Qualtrics client (createQualtricsClient); missing ${clientMissing.join(', ')} (Received: ${describeValue(raw.client)})`,
    })
  }
  const storeMissing = missingMethods(raw.store, STORE_METHODS)
  if (storeMissing.length > 0) {
    issues.push({
      path: 'store',
      message: `must be a delivery store (createMemoryStore, createSqliteStore); missing ${storeMissing.join(', ')} (Received: ${describeValue(raw.store)})`,
    })
  }
  if (raw.clock !== undefined && missingMethods(raw.clock, ['now', 'sleep']).length > 0) {
    issues.push({
      path: 'clock',
      message: `must have now() and sleep(ms) (Received: ${describeValue(raw.clock)})`,
    })
  }
  if (raw.logger !== undefined && missingMethods(raw.logger, ['debug', 'info', 'warn', 'error']).length > 0) {
    issues.push({
      path: 'logger',
      message: `must have debug, info, warn and error methods (Received: ${describeValue(raw.logger)})`,
    })
  }
  if (
    raw.circuit !== undefined &&
    missingMethods(raw.circuit, ['acquire', 'recordSuccess', 'recordFailure', 'snapshot']).length > 0
  ) {
    issues.push({
      path: 'circuit',
      message: `must be a circuit (createCircuit): acquire, recordSuccess, recordFailure and snapshot (Received: ${describeValue(raw.circuit)})`,
    })
  }
  for (const key of ['random', 'isWorkflowUrlAllowed'] as const) {
    if (raw[key] !== undefined && typeof raw[key] !== 'function') {
      issues.push({ path: key, message: `must be a function (Received: ${describeValue(raw[key])})` })
    }
  }
  issues.push(...numberIssues(raw, NUMBER_RULES))
  if (
    raw.ambiguousContact !== undefined &&
    raw.ambiguousContact !== 'newest' &&
    raw.ambiguousContact !== 'fail'
  ) {
    issues.push({
      path: 'ambiguousContact',
      message: `must be "newest" or "fail" (Received: ${describeValue(raw.ambiguousContact)})`,
    })
  }
  if (raw.orLookups !== undefined && typeof raw.orLookups !== 'boolean') {
    issues.push({
      path: 'orLookups',
      message: `must be true or false (Received: ${describeValue(raw.orLookups)})`,
    })
  }
  if (
    raw.createWithoutSearch !== undefined &&
    raw.createWithoutSearch !== 'never' &&
    raw.createWithoutSearch !== 'when-deduplicated'
  ) {
    issues.push({
      path: 'createWithoutSearch',
      message: `must be "never" or "when-deduplicated" (Received: ${describeValue(raw.createWithoutSearch)})`,
    })
  }
  if (raw.owner !== undefined && (typeof raw.owner !== 'string' || raw.owner.length === 0)) {
    issues.push({
      path: 'owner',
      message: `must be a non-empty string (Received: ${describeValue(raw.owner)})`,
    })
  }
  if (issues.length > 0) throw new ConfigError('Invalid delivery engine options', issues)

  const requestsPerMinute = config.requestsPerMinute ?? 2400
  return {
    requestsPerMinute,
    burst: config.burst ?? Math.max(1, requestsPerMinute / 60),
    maxConcurrentRequests: config.maxConcurrentRequests ?? 10,
    transactionBatchSize: config.transactionBatchSize ?? 100,
    transactionLingerMs: config.transactionLingerMs ?? 200,
    ambiguousContact: config.ambiguousContact ?? 'newest',
    contactCacheTtlMs: config.contactCacheTtlMs ?? DAY,
    contactLookupBatchSize: config.contactLookupBatchSize ?? 50,
    orLookups: config.orLookups ?? false,
    createWithoutSearch: config.createWithoutSearch ?? 'never',
    maxAttempts: config.maxAttempts ?? 10,
    maxAgeMs: config.maxAgeMs ?? DAY,
    retryBaseMs: config.retryBaseMs ?? 1000,
    retryMaxMs: config.retryMaxMs ?? 300_000,
    rateLimitRecoveryMs: config.rateLimitRecoveryMs ?? 60_000,
    circuitFailureThreshold: config.circuitFailureThreshold ?? 5,
    circuitProbeBaseMs: config.circuitProbeBaseMs ?? 5_000,
    circuitProbeMaxMs: config.circuitProbeMaxMs ?? 300_000,
    leaseMs: config.leaseMs ?? 60_000,
    maxInFlight: config.maxInFlight ?? 1000,
    pollIntervalMs: config.pollIntervalMs ?? 1000,
    retentionMs: config.retentionMs ?? 7 * DAY,
    pruneIntervalMs: config.pruneIntervalMs ?? 3_600_000,
    drainMs: config.drainMs ?? 10_000,
    owner: config.owner,
  }
}
