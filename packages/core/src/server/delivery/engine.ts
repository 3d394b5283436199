// The delivery engine: takes validated items, stores them durably, and delivers them to Qualtrics with
// as few calls as possible, never twice, never lost. One implementation, used by the proxy and by the
// node plugin.
//
//   enqueue ─▶ store (pending) ─▶ claim (lease) ─▶ per action:
//     triggerXflowWorkflow      allowlist guard → triggerWorkflow
//     addContactToXmd           createDirectoryContact (under the user's lock) → contact cache
//     upsertContactTransaction  contact (given | cache | batched search | create, single flight)
//                               → batch per directory (size / linger) → createContactTransactions
//   every call ─▶ circuit (open: held back) ─▶ concurrency cap ─▶ token bucket (paused and slowed on
//                 429) ─▶ circuit (closed: send; open: one probe) ─▶ Qualtrics
//   outcome ─▶ delivered | retry (backoff with jitter, Retry-After; held back by the circuit: no
//              attempt counted, due at the next probe) | dead letter (replayable)

import { randomUUID } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import type { DeliveryItem, TransactionPayload } from '../../actions/payloads'
import { describeValue, PayloadValidationError, RelayError, type FieldIssue } from '../../errors'
import type { ContactTransaction } from '../qualtrics/types'
import type {
  AcceptResult,
  DeadLetterQuery,
  ItemError,
  ItemResult,
  StateCounts,
  StoredItem,
} from '../store/types'
import {
  CircuitOpenError,
  createCircuit,
  heldBackUntil,
  isOutage,
  type CircuitPermit,
  type CircuitSnapshot,
  type CircuitTransition,
} from './circuit'
import { isAlreadyWritten } from './already-written'
import { systemClock } from './clock'
import { createContactResolver, type ResolvedContact } from './contacts'
import {
  createEmitter,
  type DeliveryEventName,
  type DeliveryListener,
  type Endpoint,
  type ItemRef,
} from './events'
import { deriveItemId, IDENTIFIER_ORDER, isWellFormed } from './keys'
import { noopLogger, parseDeliveryOptions, type DeliveryEngineConfig } from './options'
import {
  createRateLimiter,
  createSemaphore,
  LimiterAbortedError,
  type RateBudgetSnapshot,
} from './rate-limiter'
import { createResendCheck } from './resend-check'

/** The outcome of `enqueue` for one item. */
export type EnqueueResult = AcceptResult

/** What `status()` shows of an item: its bookkeeping, not its payload. */
export type ItemStatus = Omit<StoredItem, 'payload' | 'leaseOwner'>

export interface StopOptions {
  /** How long to wait for in-flight work before handing it back to the store. Default: the `drainMs` option. */
  drainMs?: number
}

export interface DeliveryEngine {
  /** Stores items durably (resolves once they are), deduplicated by `(source, messageId, mappingId)`. */
  enqueue(items: readonly DeliveryItem[]): Promise<EnqueueResult[]>
  /** Starts delivering in the background (idempotent). */
  start(): void
  /** Stops claiming work, sends what is batched, waits up to `drainMs`, then hands unfinished work back
   * to the store (due at once for the next engine). Does not close the store. */
  stop(options?: StopOptions): Promise<void>
  /** Delivers everything due now, and what becomes due while doing so; resolves when nothing due is left.
   * For tests, scripts and serverless functions. Works with or without `start()`. */
  flush(): Promise<void>
  /** Every item of one event, one per mapping; with `source`, only that source's. */
  status(messageId: string, source?: string): Promise<ItemStatus[]>
  listDeadLetters(query?: DeadLetterQuery): Promise<StoredItem[]>
  /** Dead letters back to pending with attempts reset (all when `ids` is omitted); returns how many. */
  replayDeadLetters(ids?: readonly string[]): Promise<number>
  /** Queue depth by state. */
  counts(): Promise<StateCounts>
  /** The Qualtrics circuit: `closed` (sending), `open` (Qualtrics failing; held back until a probe
   * answers) or `probing`. */
  circuitState(): Promise<CircuitSnapshot>
  /** The Qualtrics rate budget: tokens, the rate in force, a 429's pause (`scope: 'fleet'` when shared). */
  rateBudgetState(): Promise<RateBudgetSnapshot>
  /** Subscribes to an engine event (metrics, logs); returns the unsubscribe function. */
  on<E extends DeliveryEventName>(event: E, listener: DeliveryListener<E>): () => void
  readonly running: boolean
}

interface Held {
  item: StoredItem
  /** The item is settled, or waiting in a transaction batch. */
  ready: Promise<void>
  /** The item is settled in the store (or abandoned on stop). */
  done: Promise<void>
}

interface BatchEntry {
  item: StoredItem & { action: 'upsertContactTransaction' }
  key: string
  transaction: ContactTransaction
  contact: ResolvedContact
  finish: () => void
}

const ACTIONS = new Set(['addContactToXmd', 'upsertContactTransaction', 'triggerXflowWorkflow'])
const LOOKUP_FIELDS: readonly string[] = IDENTIFIER_ORDER

function isRateLimited(error: unknown): boolean {
  return error instanceof RelayError && error.code === 'QUALTRICS_RATE_LIMITED'
}

function retryAfterOf(error: unknown): number | undefined {
  const value = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined
}

/** A write that failed this way may still have been applied by Qualtrics. */
function mayHaveApplied(error: unknown): boolean {
  if (!(error instanceof RelayError)) return true
  if (error.code === 'TIMEOUT' || error.code === 'NETWORK_ERROR' || error.code === 'QUALTRICS_BAD_RESPONSE')
    return true
  return error.code === 'QUALTRICS_API_ERROR' && (error.status ?? 0) >= 500
}

function isRetryable(error: unknown): boolean {
  // Unknown failures are retried: losing an event is worse, and maxAttempts bounds the cost.
  return error instanceof RelayError ? error.retryable : true
}

function toItemError(error: unknown, at: number): ItemError {
  if (error instanceof RelayError) {
    return {
      code: error.code,
      message: error.message,
      ...(error.status === undefined ? {} : { status: error.status }),
      at,
    }
  }
  return {
    code: 'DELIVERY_FAILED',
    message: error instanceof Error ? error.message : describeValue(error, 200),
    at,
  }
}

function refOf(item: StoredItem): ItemRef {
  return {
    id: item.id,
    messageId: item.messageId,
    mappingId: item.mappingId,
    action: item.action,
    ...(item.source === undefined ? {} : { source: item.source }),
  }
}

/** A workflow URL for messages: origin and path, never the query (it carries the trigger's token id). */
function showUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.origin}${u.pathname}`
  } catch {
    return describeValue(url.split('?')[0], 80)
  }
}

function checkItems(items: readonly DeliveryItem[]): void {
  const issues: FieldIssue[] = []
  if (!Array.isArray(items)) {
    throw new PayloadValidationError('enqueue() takes an array of delivery items', [
      { path: '', message: `(Received: ${describeValue(items)})` },
    ])
  }
  items.forEach((item, i) => {
    const it = item as Partial<Record<keyof DeliveryItem, unknown>> | null
    if (typeof it !== 'object' || it === null) {
      issues.push({ path: `${i}`, message: `must be a delivery item (Received: ${describeValue(it)})` })
      return
    }
    for (const key of ['messageId', 'mappingId', 'source'] as const) {
      if (key === 'source' && it.source === undefined) continue
      if (typeof it[key] !== 'string' || it[key] === '') {
        issues.push({
          path: `${i}.${key}`,
          message: `must be a non-empty string (Received: ${describeValue(it[key])})`,
        })
      } else if (!isWellFormed(it[key])) {
        // Hashed as UTF-8 it would collide with the same text holding U+FFFD instead (see deriveItemId).
        issues.push({
          path: `${i}.${key}`,
          message: `must be well-formed Unicode: it holds a lone surrogate (Received: ${describeValue(it[key])})`,
        })
      }
    }
    if (typeof it.action !== 'string' || !ACTIONS.has(it.action)) {
      issues.push({
        path: `${i}.action`,
        message: `must be one of ${[...ACTIONS].join(', ')} (Received: ${describeValue(it.action)})`,
      })
    }
    if (typeof it.payload !== 'object' || it.payload === null) {
      issues.push({
        path: `${i}.payload`,
        message: `must be an object (Received: ${describeValue(it.payload)})`,
      })
    }
    const lookupBy = it.lookupBy
    if (
      lookupBy !== undefined &&
      (!Array.isArray(lookupBy) ||
        lookupBy.length === 0 ||
        new Set(lookupBy).size !== lookupBy.length ||
        !lookupBy.every((f) => typeof f === 'string' && LOOKUP_FIELDS.includes(f)))
    ) {
      issues.push({
        path: `${i}.lookupBy`,
        message: `must be a non-empty list of distinct ${LOOKUP_FIELDS.join(', ')} (Received: ${describeValue(lookupBy)})`,
      })
    }
  })
  if (issues.length > 0) throw new PayloadValidationError('Invalid delivery items', issues)
}

/**
 * Creates a delivery engine. Throws `ConfigError` listing every bad option (see `DeliveryEngineOptions`
 * for the options and their defaults). Nothing runs until `start()` or `flush()`.
 */
export function createDeliveryEngine(config: DeliveryEngineConfig): DeliveryEngine {
  const opts = parseDeliveryOptions(config)
  const { client, store } = config
  const clock = config.clock ?? systemClock
  const logger = config.logger ?? noopLogger
  const random = config.random ?? Math.random
  const guard = config.isWorkflowUrlAllowed
  const owner = opts.owner ?? `engine-${randomUUID()}`

  const emitter = createEmitter((error) => logger.error({ err: error }, 'a delivery engine listener threw'))
  const limiter =
    config.rateBudget ??
    createRateLimiter({
      clock,
      requestsPerSecond: opts.requestsPerMinute / 60,
      burst: opts.burst,
      recoveryMs: opts.rateLimitRecoveryMs,
      pauseBaseMs: Math.max(1, opts.retryBaseMs),
      pauseMaxMs: Math.max(1, opts.retryMaxMs),
    })
  const slots = createSemaphore(opts.maxConcurrentRequests)
  const circuit =
    config.circuit ??
    createCircuit({
      failureThreshold: opts.circuitFailureThreshold,
      probeBaseMs: opts.circuitProbeBaseMs,
      probeMaxMs: opts.circuitProbeMaxMs,
    })
  /** Failures that opened the circuit or came while it was open → when the item is due again. They
   * cost the item no attempt: an outage ends in delivery, not in dead letters. */
  const heldBack = new WeakMap<object, number>()

  let controller = new AbortController()
  setMaxListeners(0, controller.signal)
  let running = false
  let loop: Promise<void> | undefined
  let lastRenewal = Number.NEGATIVE_INFINITY
  let lastPrune = Number.NEGATIVE_INFINITY
  const held = new Map<string, Held>()
  const buffers = new Map<string, BatchEntry[]>()
  const lingerTokens = new Map<string, object>()
  /** The loop claims again once this many slots are free (or nothing is held). */
  const lowWater = Math.max(1, Math.floor(opts.maxInFlight / 4))
  /** flush() calls in progress. */
  let flushing = 0

  // Wakes the loop early: new work was enqueued, a retry comes due before the loop would look again,
  // capacity was freed while due work waits for it, or the engine is stopping.
  let wakeFlag = false
  let wakeWaiter: (() => void) | undefined
  /** When the idle loop looks for work next by itself (while it sleeps). */
  let idleUntil = Number.POSITIVE_INFINITY
  /** The loop left due work unclaimed for want of capacity: a freed slot should wake it. Completions
   * wake the loop only then, so settling an item costs no claim while the queue holds nothing due. */
  let wantsRoom = false
  /** Set by `stop` until the next `start`: no new claims, so a flush still running cannot lease more. */
  let stopping = false
  /** Claims on their way to the store (the loop's or a flush's), which `stop` waits for. */
  const claiming = new Set<Promise<StoredItem[]>>()
  /** Items leased again while still held, by id: dispatched when the held attempt ends. */
  const claimedAgain = new Map<string, StoredItem>()
  function wake(): void {
    wakeFlag = true
    wakeWaiter?.()
  }
  /** An item of this engine becomes due at `at`: make sure the loop looks for it by then. */
  function dueAt(at: number): void {
    if (at < idleUntil) wake()
  }
  function freed(): void {
    if (wantsRoom && (held.size === 0 || opts.maxInFlight - held.size >= lowWater)) wake()
  }
  async function idle(ms: number): Promise<void> {
    if (wakeFlag) {
      wakeFlag = false
      return
    }
    idleUntil = clock.now() + ms
    const stopSleep = new AbortController()
    await Promise.race([
      clock.sleep(ms, stopSleep.signal),
      new Promise<void>((resolve) => {
        wakeWaiter = resolve
      }),
    ])
    stopSleep.abort()
    wakeWaiter = undefined
    wakeFlag = false
    idleUntil = Number.POSITIVE_INFINITY
  }

  function storeFailed(where: string, error: unknown): void {
    logger.error({ where, err: error }, 'delivery store operation failed')
    emitter.emit('error', { where, error })
  }

  /** One line per open and close (and a debug line per probe), and the `circuit` event. */
  function circuitMoved(t: CircuitTransition | undefined): void {
    if (t === undefined) return
    const outageMs = t.to === 'closed' ? t.at - t.openedAt : undefined
    emitter.emit('circuit', { ...t, ...(outageMs === undefined ? {} : { outageMs }) })
    const fields = { from: t.from, to: t.to, failedProbes: t.failedProbes }
    if (t.to === 'closed') {
      logger.info({ ...fields, outageMs }, 'Qualtrics answers again: circuit closed, sending resumed')
      wake()
    } else if (t.from === 'closed') {
      logger.warn(
        { ...fields, nextProbeInMs: (t.nextProbeAt ?? t.at) - t.at },
        'Qualtrics calls fail across the board (5xx, timeouts, network): circuit open, sending stopped; probing with one request',
      )
    } else if (t.to === 'open') {
      logger.debug({ ...fields, nextProbeInMs: (t.nextProbeAt ?? t.at) - t.at }, 'Qualtrics probe failed')
    } else {
      logger.debug(fields, 'probing Qualtrics with one request')
    }
  }

  /** Refuses a call at once while the circuit holds everything back (no slot, no token spent). */
  async function refuseWhileOpen(): Promise<void> {
    const now = clock.now()
    const c = await circuit.snapshot(now)
    if (c.state === 'closed' || (c.state === 'open' && now >= (c.nextProbeAt ?? now))) return
    throw new CircuitOpenError(c, heldBackUntil(c, now))
  }

  /** Tells the circuit how a call ended; marks an outage failure it holds back as costing no attempt. */
  async function report(permit: CircuitPermit, error?: unknown): Promise<void> {
    const now = clock.now()
    if (error === undefined || !isOutage(error)) {
      circuitMoved((await circuit.recordSuccess(now, permit)).transition)
      return
    }
    const outcome = await circuit.recordFailure(now, permit)
    circuitMoved(outcome.transition)
    if (outcome.snapshot.state !== 'closed' && typeof error === 'object' && error !== null)
      heldBack.set(error, heldBackUntil(outcome.snapshot, now))
  }

  async function call<T>(endpoint: Endpoint, items: number, fn: () => Promise<T>): Promise<T> {
    const signal = controller.signal
    await refuseWhileOpen()
    await slots.acquire(signal)
    try {
      await limiter.acquire(signal)
      const gate = await circuit.acquire(clock.now())
      circuitMoved(gate.transition)
      const permit = gate.permit
      if (permit.kind === 'wait')
        throw new CircuitOpenError(await circuit.snapshot(clock.now()), permit.until)
      void renewLeases()
      const started = clock.now()
      try {
        const result = await fn()
        limiter.onSuccess()
        await report(permit)
        const status = (result as { status?: unknown } | undefined)?.status
        emitter.emit('request', {
          endpoint,
          ok: true,
          status: typeof status === 'number' ? status : 200,
          durationMs: clock.now() - started,
          items,
        })
        return result
      } catch (error) {
        await report(permit, error)
        const relay = error instanceof RelayError ? error : undefined
        if (isRateLimited(error)) {
          const retryAfterMs = retryAfterOf(error)
          const pauseMs = limiter.onRateLimited(retryAfterMs)
          emitter.emit('rateLimited', {
            endpoint,
            pauseMs,
            ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
          })
          logger.warn({ endpoint, retryAfterMs, pauseMs }, 'Qualtrics rate limit hit; pausing all requests')
        }
        emitter.emit('request', {
          endpoint,
          ok: false,
          ...(relay?.status === undefined ? {} : { status: relay.status }),
          errorCode: relay?.code ?? 'DELIVERY_FAILED',
          durationMs: clock.now() - started,
          items,
        })
        throw error
      }
    } finally {
      slots.release()
    }
  }

  const contacts = createContactResolver({
    client,
    store,
    clock,
    logger,
    call,
    ambiguousContact: opts.ambiguousContact,
    contactCacheTtlMs: opts.contactCacheTtlMs,
    contactLookupBatchSize: opts.contactLookupBatchSize,
    orLookups: opts.orLookups,
    createWithoutSearch: opts.createWithoutSearch,
    onStoreError: storeFailed,
    sharedLocks: config.contactLocks,
    stopSignal: () => controller.signal,
  })

  // ---- settling items in the store -------------------------------------------------------------

  async function delivered(item: StoredItem, result: ItemResult): Promise<void> {
    const now = clock.now()
    let ok: boolean
    try {
      ok = await store.markDelivered(item.id, owner, now, result)
    } catch (error) {
      storeFailed('markDelivered', error)
      return
    }
    if (!ok) {
      logger.info(
        { id: item.id, messageId: item.messageId },
        'delivered an item whose lease was lost; it may be delivered again (idempotently)',
      )
      return
    }
    emitter.emit('delivered', {
      item: refOf(item),
      attempts: item.attempts + 1,
      ageMs: now - item.createdAt,
      result,
    })
    logger.debug({ id: item.id, messageId: item.messageId, action: item.action, ...result }, 'delivered')
  }

  async function deadLetter(item: StoredItem, attempts: number, error: ItemError): Promise<void> {
    let ok: boolean
    try {
      ok = await store.markDead(item.id, owner, { now: clock.now(), attempts, error })
    } catch (storeError) {
      storeFailed('markDead', storeError)
      return
    }
    if (!ok) return
    emitter.emit('deadLettered', { item: refOf(item), attempts, error })
    logger.warn(
      {
        id: item.id,
        messageId: item.messageId,
        mappingId: item.mappingId,
        action: item.action,
        code: error.code,
        status: error.status,
        error: error.message,
      },
      'item dead-lettered',
    )
  }

  function backoff(attempts: number): number {
    const step = Math.min(opts.retryMaxMs, opts.retryBaseMs * 2 ** Math.max(0, attempts - 1))
    return Math.round(step / 2 + (random() * step) / 2)
  }

  /**
   * Settles a failed attempt: retry (backoff, or the rate-limit pause), or dead letter. `write` says
   * the failure came from a write request, which a timeout or 5xx may have applied unseen.
   */
  async function failed(item: StoredItem, error: unknown, write = false): Promise<void> {
    if (error instanceof LimiterAbortedError) return // stopping: the item is released, not failed
    const now = clock.now()
    const itemError = toItemError(error, now)
    if (item.lastError?.possiblyWritten === true || (write && mayHaveApplied(error)))
      itemError.possiblyWritten = true
    const rateLimited = isRateLimited(error)
    const heldUntil =
      error instanceof CircuitOpenError
        ? error.retryAt
        : typeof error === 'object' && error !== null
          ? heldBack.get(error)
          : undefined
    const attempts = item.attempts + (rateLimited || heldUntil !== undefined ? 0 : 1)
    if (!isRetryable(error)) return deadLetter(item, attempts, itemError)
    if (attempts >= opts.maxAttempts) {
      return deadLetter(item, attempts, {
        ...itemError,
        code: 'DELIVERY_FAILED',
        message: `Gave up after ${attempts} attempts (maxAttempts ${opts.maxAttempts}); last error ${itemError.code}: ${itemError.message}`,
      })
    }
    const delayMs = rateLimited
      ? Math.max(retryAfterOf(error) ?? 0, limiter.pausedUntil() - now, 1)
      : heldUntil !== undefined
        ? Math.max(1, heldUntil - now)
        : backoff(attempts)
    const nextAttemptAt = now + delayMs
    if (nextAttemptAt - item.createdAt > opts.maxAgeMs) {
      return deadLetter(item, attempts, {
        ...itemError,
        code: 'DELIVERY_FAILED',
        message: `Gave up: the next attempt would be past maxAgeMs (${opts.maxAgeMs} ms since it was accepted); last error ${itemError.code}: ${itemError.message}`,
      })
    }
    let ok: boolean
    try {
      ok = await store.scheduleRetry(item.id, owner, { now, nextAttemptAt, attempts, error: itemError })
    } catch (storeError) {
      storeFailed('scheduleRetry', storeError)
      return
    }
    if (!ok) return
    dueAt(nextAttemptAt)
    emitter.emit('retried', { item: refOf(item), attempts, delayMs, nextAttemptAt, error: itemError })
    // Held back by the circuit: its open and close lines say it once for every item.
    logger[heldUntil === undefined ? 'info' : 'debug'](
      {
        id: item.id,
        messageId: item.messageId,
        action: item.action,
        attempts,
        delayMs,
        code: itemError.code,
        status: itemError.status,
      },
      heldUntil === undefined ? 'delivery failed; will retry' : 'held back while Qualtrics is down',
    )
  }

  // ---- the three actions -----------------------------------------------------------------------

  async function deliverWorkflow(item: StoredItem & { action: 'triggerXflowWorkflow' }): Promise<void> {
    const { workflowUrl, eventPayload } = item.payload
    if (guard !== undefined) {
      let allowed: boolean
      try {
        allowed = (await guard(workflowUrl)) === true
      } catch (error) {
        logger.error({ err: error }, 'isWorkflowUrlAllowed threw; refusing the URL')
        allowed = false
      }
      if (!allowed) {
        throw new RelayError(
          'HOST_NOT_ALLOWED',
          `Workflow URL ${showUrl(workflowUrl)} is not one of the workflow URLs the operator allowed; nothing was sent`,
          { status: 403, retryable: false },
        )
      }
    }
    const response = await call('triggerWorkflow', 1, () => client.triggerWorkflow(workflowUrl, eventPayload))
    await delivered(item, { status: response.status })
  }

  async function deliverContact(item: StoredItem & { action: 'addContactToXmd' }): Promise<void> {
    const contactId = await contacts.upsert(item.payload, {
      afterAmbiguousWrite: item.lastError?.possiblyWritten === true,
      lookupBy: item.lookupBy,
    })
    await delivered(item, { contactId })
  }

  const findWritten = createResendCheck({ client, store, now: () => clock.now(), logger, call })

  function addToBatch(item: BatchEntry['item'], contact: ResolvedContact): Promise<void> {
    const p: TransactionPayload = item.payload
    return new Promise((finish) => {
      const entry: BatchEntry = {
        item,
        key: item.id,
        contact,
        finish,
        transaction: {
          contactId: contact.contactId,
          mailingListId: p.mailingListId,
          transactionDate: p.transactionDate,
          data: p.transactionData,
        },
      }
      const directoryId = p.directoryId
      let buffer = buffers.get(directoryId)
      if (buffer === undefined) buffers.set(directoryId, (buffer = []))
      buffer.push(entry)
      // (stopping: sent at once, so the drain never waits for a batch to fill or linger)
      if (buffer.length >= opts.transactionBatchSize || stopping) {
        sendBuffer(directoryId)
      } else if (flushing === 0 && !lingerTokens.has(directoryId)) {
        // (during flush() the batch is sent as soon as every claimed item is resolved, not on a timer)
        const token = {}
        lingerTokens.set(directoryId, token)
        void clock.sleep(opts.transactionLingerMs, controller.signal).then(() => {
          if (lingerTokens.get(directoryId) === token) sendBuffer(directoryId)
        })
      }
    })
  }

  function sendBuffer(directoryId: string): void {
    lingerTokens.delete(directoryId)
    const buffer = buffers.get(directoryId)
    buffers.delete(directoryId)
    if (buffer === undefined) return
    for (let i = 0; i < buffer.length; i += opts.transactionBatchSize) {
      void sendBatch(directoryId, buffer.slice(i, i + opts.transactionBatchSize))
    }
  }

  function sendAllBuffers(): void {
    for (const directoryId of [...buffers.keys()]) sendBuffer(directoryId)
  }

  /** A refusal of the whole batch that one bad transaction may have caused: worth splitting. */
  function isSplittable(error: unknown): boolean {
    return (
      error instanceof RelayError &&
      !error.retryable &&
      (error.status === 400 || error.status === 413 || error.status === 422)
    )
  }

  async function sendBatch(directoryId: string, entries: BatchEntry[]): Promise<void> {
    const body: Record<string, ContactTransaction> = {}
    for (const e of entries) body[e.key] = e.transaction
    let outcome: Awaited<ReturnType<typeof client.createContactTransactions>>
    try {
      outcome = await call('createContactTransactions', entries.length, () =>
        client.createContactTransactions(directoryId, body),
      )
    } catch (error) {
      if (entries.length > 1 && isSplittable(error)) {
        logger.info(
          { directoryId, size: entries.length },
          'Qualtrics refused a transaction batch; splitting it to isolate the cause',
        )
        const middle = Math.ceil(entries.length / 2)
        await Promise.all([
          sendBatch(directoryId, entries.slice(0, middle)),
          sendBatch(directoryId, entries.slice(middle)),
        ])
        return
      }
      await Promise.all(entries.map((e) => failed(e.item, error, true).finally(e.finish)))
      return
    }
    await Promise.all(
      entries.map(async (e) => {
        try {
          const transactionId = outcome.created[e.key]
          if (transactionId !== undefined) {
            await delivered(e.item, { contactId: e.contact.contactId, transactionId, transactionKey: e.key })
            return
          }
          const reason = outcome.unprocessed[e.key]
          if (reason !== undefined && isAlreadyWritten(reason)) {
            // Qualtrics deduplicates keys and has this one: an earlier attempt wrote it.
            await delivered(e.item, { contactId: e.contact.contactId, transactionKey: e.key })
            return
          }
          // The cached contact id may be stale (contact deleted or merged): look it up afresh next time.
          if (e.contact.via !== 'given')
            await contacts.forget(e.item.payload, e.item.lookupBy, e.contact.contactId)
          await failed(
            e.item,
            new RelayError(
              'DELIVERY_FAILED',
              reason === undefined
                ? `Qualtrics reported transaction ${e.key} in directory ${directoryId} neither created nor unprocessed`
                : `Qualtrics did not process transaction ${e.key} in directory ${directoryId}: ${reason.errorMessage}${reason.errorCode === undefined ? '' : ` (errorCode ${reason.errorCode})`}`,
              { retryable: true },
            ),
          )
        } finally {
          e.finish()
        }
      }),
    )
  }

  async function process(item: StoredItem, ready: () => void): Promise<void> {
    try {
      switch (item.action) {
        case 'triggerXflowWorkflow':
          await deliverWorkflow(item)
          return
        case 'addContactToXmd':
          await deliverContact(item)
          return
        case 'upsertContactTransaction': {
          const contact = await contacts.resolve(item.payload, item.lookupBy)
          if (item.lastError?.possiblyWritten === true) {
            const transactionId = await findWritten(item, contact.contactId)
            if (transactionId !== undefined) {
              logger.info(
                { id: item.id, messageId: item.messageId, transactionId },
                'an earlier attempt wrote this transaction; not sending it again',
              )
              await delivered(item, { contactId: contact.contactId, transactionId, transactionKey: item.id })
              return
            }
          }
          const inBatch = addToBatch(item, contact)
          ready()
          await inBatch
          return
        }
        default:
          throw new RelayError(
            'PAYLOAD_INVALID',
            `Unknown action ${describeValue((item as { action: unknown }).action)} in the queue`,
            {
              retryable: false,
            },
          )
      }
    } catch (error) {
      // Workflow and contact errors come from their one write; transaction errors here come from
      // looking the contact up (batch failures are settled in sendBatch).
      await failed(item, error, item.action !== 'upsertContactTransaction')
    }
  }

  function dispatch(item: StoredItem): Held {
    let markReady!: () => void
    const ready = new Promise<void>((resolve) => {
      markReady = resolve
    })
    const done = process(item, markReady).finally(() => {
      markReady()
      held.delete(item.id)
      const next = claimedAgain.get(item.id)
      claimedAgain.delete(item.id)
      if (next !== undefined && !stopping) dispatch(next)
      else if (next !== undefined) claimedAgain.set(item.id, next) // handed back by stop
      freed()
    })
    const entry: Held = { item, ready, done }
    held.set(item.id, entry)
    return entry
  }

  async function renewLeases(): Promise<void> {
    const now = clock.now()
    if (held.size === 0 || now - lastRenewal < opts.leaseMs / 3) return
    lastRenewal = now
    try {
      await store.renewLeases([...held.keys()], owner, now + opts.leaseMs, now)
    } catch (error) {
      storeFailed('renewLeases', error)
    }
  }

  async function prune(): Promise<void> {
    const now = clock.now()
    if (now - lastPrune < opts.pruneIntervalMs) return
    lastPrune = now
    try {
      const pruned = await store.prune({ deliveredBefore: now - opts.retentionMs, now })
      if (pruned.items > 0 || pruned.contacts > 0)
        logger.debug(pruned, 'pruned delivered items and expired contact ids')
    } catch (error) {
      storeFailed('prune', error)
    }
  }

  /**
   * How many items may be claimed now. Closed circuit: the free capacity. Open: none, except one item
   * for the probe once it is due and nothing is in flight; `waitMs` says when to look again.
   */
  async function room(): Promise<{ capacity: number; waitMs: number }> {
    const now = clock.now()
    const c = await circuit.snapshot(now)
    if (c.state === 'closed') return { capacity: opts.maxInFlight - held.size, waitMs: opts.pollIntervalMs }
    if (c.state === 'open' && held.size === 0) {
      const dueIn = (c.nextProbeAt ?? now) - now
      // (polled, not slept through: a circuit shared with other processes may close meanwhile)
      return dueIn <= 0
        ? { capacity: 1, waitMs: 0 }
        : { capacity: 0, waitMs: Math.min(dueIn, opts.pollIntervalMs) }
    }
    return { capacity: 0, waitMs: opts.pollIntervalMs }
  }

  /** Claims up to the room there is and dispatches what is not already held. */
  async function claimAndDispatch(): Promise<{ capacity: number; fresh: Held[]; waitMs: number }> {
    const { capacity, waitMs } = await room()
    if (capacity <= 0 || stopping) return { capacity: stopping ? 0 : capacity, fresh: [], waitMs }
    const claim = store.claim({ now: clock.now(), limit: capacity, leaseMs: opts.leaseMs, owner })
    claiming.add(claim)
    let claimed: StoredItem[]
    try {
      claimed = await claim
    } finally {
      claiming.delete(claim)
    }
    const fresh: Held[] = []
    for (const item of claimed) {
      // Claimed again while its last attempt is still finishing: the retry that attempt recorded fell
      // due before the attempt returned (a networked store). The new lease is ours: run it next.
      if (held.has(item.id)) claimedAgain.set(item.id, item)
      else fresh.push(dispatch(item))
    }
    return { capacity, fresh, waitMs }
  }

  async function runLoop(): Promise<void> {
    while (running) {
      await renewLeases()
      await prune()
      // Claim in chunks, not one item per completion: each claim is a store round trip.
      if (held.size > 0 && opts.maxInFlight - held.size < lowWater) {
        wantsRoom = true
        await idle(opts.pollIntervalMs)
        continue
      }
      wantsRoom = false
      let capacity = 0
      let fresh: Held[] = []
      let waitMs = opts.pollIntervalMs
      try {
        ;({ capacity, fresh, waitMs } = await claimAndDispatch())
      } catch (error) {
        storeFailed('claim', error)
        await idle(opts.pollIntervalMs)
        continue
      }
      if (!running) break
      if (capacity <= 0) {
        // No room, or the circuit holds work back: look again when in-flight items settle, or later.
        wantsRoom = held.size > 0
        await idle(Math.max(1, waitMs))
        continue
      }
      if (fresh.length >= capacity) {
        wantsRoom = true // probably more due: claim again once there is room
        continue
      }
      let next: number | undefined
      try {
        next = await store.nextDueAt()
      } catch (error) {
        storeFailed('nextDueAt', error)
      }
      const wait =
        next === undefined
          ? opts.pollIntervalMs
          : Math.min(opts.pollIntervalMs, Math.max(0, next - clock.now()))
      await idle(fresh.length === 0 && wait === 0 ? 1 : wait)
    }
  }

  function freshController(): void {
    if (controller.signal.aborted) controller = new AbortController()
    // Every waiter (request slot, token, linger) listens for stop on this one signal.
    setMaxListeners(0, controller.signal)
  }

  return {
    async enqueue(items: readonly DeliveryItem[]): Promise<EnqueueResult[]> {
      checkItems(items)
      if (items.length === 0) return []
      const results = await store.accept(
        items.map((item) => ({ ...item, id: deriveItemId(item) })),
        clock.now(),
      )
      const accepted = results.filter((r) => r.status === 'accepted').length
      emitter.emit('accepted', { accepted, duplicates: results.length - accepted })
      if (accepted > 0) wake()
      return results
    },

    start(): void {
      if (running) return
      freshController()
      running = true
      stopping = false
      wakeFlag = false
      loop = runLoop().catch((error: unknown) => {
        running = false
        logger.error({ err: error }, 'the delivery loop stopped unexpectedly')
        emitter.emit('error', { where: 'loop', error })
      })
    },

    async stop(options: StopOptions = {}): Promise<void> {
      running = false
      stopping = true
      wake()
      await loop
      loop = undefined
      // A flush's claim may still be on its way (a networked store): what it leases is held, and so
      // drained or handed back below, never left leased until its lease runs out.
      await Promise.allSettled([...claiming])
      sendAllBuffers()
      const drainMs = options.drainMs ?? opts.drainMs
      const all = Promise.all([...held.values()].map((h) => h.done))
      if (held.size > 0) {
        const timer = new AbortController()
        await Promise.race([all, clock.sleep(drainMs, timer.signal)])
        timer.abort()
      }
      controller.abort()
      // Requests already sent cannot be called back: their items settle from the answer (each within
      // the client's timeout), so no item is handed back, and no shared contact lock let go, while a
      // write made for it may still land. Everything else waiting ends at once on the abort.
      const cut = [...held.keys()]
      await Promise.all([...held.values()].map((h) => h.done))
      await contacts.released()
      // Those that settled meanwhile are no longer leased by this engine: release leaves them alone.
      const unfinished = [...new Set([...cut, ...claimedAgain.keys()])]
      claimedAgain.clear()
      if (unfinished.length > 0) {
        try {
          const released = await store.release(unfinished, owner, clock.now())
          logger.info({ released }, 'handed unfinished items back to the store')
        } catch (error) {
          storeFailed('release', error)
        }
      }
    },

    async flush(): Promise<void> {
      freshController()
      flushing++
      try {
        for (;;) {
          await renewLeases()
          await claimAndDispatch()
          const all = [...held.values()]
          if (all.length === 0) return
          await Promise.all(all.map((h) => h.ready))
          sendAllBuffers()
          await Promise.all(all.map((h) => h.done))
        }
      } finally {
        flushing--
      }
    },

    async status(messageId: string, source?: string): Promise<ItemStatus[]> {
      const items = await store.getByMessageId(messageId, source)
      return items.map(({ payload: _payload, leaseOwner: _owner, ...rest }) => rest)
    },

    listDeadLetters: (query?: DeadLetterQuery) => store.listDeadLetters(query),

    async replayDeadLetters(ids?: readonly string[]): Promise<number> {
      const replayed = await store.replayDeadLetters(ids, clock.now())
      if (replayed > 0) {
        logger.info({ replayed }, 'dead letters replayed')
        wake()
      }
      return replayed
    },

    counts: () => store.counts(),

    circuitState: () => circuit.snapshot(clock.now()),

    rateBudgetState: () => limiter.snapshot(),

    on: (event, listener) => emitter.on(event, listener),

    get running() {
      return running
    },
  }
}
