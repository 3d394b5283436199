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
//
// This file: the claim/poll loop, leases, dispatch, start/stop/flush and the public API. Each stage
// above has its own file: check-items.ts (enqueue's validation), deliver-item.ts (per action),
// contacts.ts, transaction-batches.ts, qualtrics-gate.ts (every call), settle.ts (outcome).

import { randomUUID } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import type { DeliveryItem } from '../../actions/payloads'
import type { AcceptResult, DeadLetterQuery, StateCounts, StoredItem } from '../store/types'
import { checkItems } from './check-items'
import { createCircuit, type CircuitSnapshot } from './circuit'
import { systemClock } from './clock'
import { createContactResolver } from './contacts'
import { createItemDeliverer } from './deliver-item'
import { createEmitter, type DeliveryEventName, type DeliveryListener } from './events'
import { deriveItemId } from './keys'
import { noopLogger, parseDeliveryOptions, type DeliveryEngineConfig } from './options'
import { createQualtricsGate } from './qualtrics-gate'
import { createRateLimiter, createSemaphore, type RateBudgetSnapshot } from './rate-limiter'
import { createResendCheck } from './resend-check'
import { createSettler } from './settle'
import { createTransactionBatcher } from './transaction-batches'

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

  let controller = new AbortController()
  setMaxListeners(0, controller.signal)
  let running = false
  let loop: Promise<void> | undefined
  let lastRenewal = Number.NEGATIVE_INFINITY
  let lastPrune = Number.NEGATIVE_INFINITY
  const held = new Map<string, Held>()
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

  const gate = createQualtricsGate({
    clock,
    logger,
    emitter,
    limiter,
    slots,
    circuit,
    signal: () => controller.signal,
    onClosed: wake,
    onSend: () => void renewLeases(),
  })
  const call = gate.call

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

  const settler = createSettler({
    store,
    owner,
    clock,
    logger,
    emitter,
    opts,
    random,
    limiter,
    heldUntilOf: gate.heldUntil,
    onStoreError: storeFailed,
    dueAt,
  })
  const batcher = createTransactionBatcher({
    client,
    opts,
    clock,
    logger,
    call,
    settler,
    contacts,
    signal: () => controller.signal,
    isStopping: () => stopping,
    isFlushing: () => flushing > 0,
  })
  const deliver = createItemDeliverer({
    client,
    guard,
    logger,
    call,
    contacts,
    settler,
    batcher,
    findWritten: createResendCheck({ client, store, now: () => clock.now(), logger, call }),
  })

  function dispatch(item: StoredItem): Held {
    let markReady!: () => void
    const ready = new Promise<void>((resolve) => {
      markReady = resolve
    })
    const done = deliver(item, markReady).finally(() => {
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
      batcher.sendAll()
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
          batcher.sendAll()
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
