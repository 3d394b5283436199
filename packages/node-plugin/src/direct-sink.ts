// Direct mode: this process holds the token and delivers with core's delivery engine, the same one the
// proxy runs (contact cache, single flight, transaction batching with keys derived from messageId, rate
// limiting, retries, dead letters). Nothing here delivers by itself; it only feeds and drains the engine.
// On PostgreSQL the engine shares what the proxy's does with every instance on the database (the rate
// budget, contact-create locks: core's sharedWithFleet), so app servers in direct mode form one fleet.
//
// Process lifetime: the engine's own timers never hold the process open (its clock's timers are
// unref'ed), so a script ends by itself once it is done. But while items are queued, one ref'ed timer
// keeps the process alive until they are delivered or given up, so `await analytics.closeAndFlush()` at
// the end of a script does not lose what was just accepted.
import { ConfigError, RelayError, type DeliveryItem } from '@qualtrics-relay/core'
import {
  createDeliveryEngine,
  createMemoryStore,
  createQualtricsClient,
  deriveItemId,
  liveCheckAccount,
  orLookupsVerified,
  readLiveCheckRecord,
  sharedWithFleet,
  type Clock,
  type DeliveryEngine,
  type DeliveryLogger,
  type DeliveryStore,
  type ItemRef,
} from '@qualtrics-relay/core/server'
import { ItemDeliveryError, type MappingFailureDetail } from './errors'
import type { DirectStorage, NodePluginLogger, ResolvedDirectOptions } from './options'
import type { PreparedMappings, Sink, SubmitOptions } from './sink'
import { sleep } from './timeout'

/** The engine's clock: real time, but its timers never keep the process alive. */
const unrefClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleep(ms, signal === undefined ? { ref: false } : { ref: false, signal }),
}

type Outcome = { ok: true } | { ok: false; error: ItemDeliveryError }

interface Running {
  engine: DeliveryEngine
  store: DeliveryStore
}

/**
 * The SQLite store, loaded only when asked for: better-sqlite3 is an optional dependency, so a plugin
 * with the memory store must not need it installed.
 */
async function openSqliteStore(path: string, synchronous: 'full' | 'normal'): Promise<DeliveryStore> {
  const sqlite = await import('@qualtrics-relay/core/sqlite').catch((error: unknown) => {
    throw new ConfigError(
      'Invalid Qualtrics plugin options (1 problem)',
      [
        {
          path: 'storage.sqlitePath',
          message: 'needs the better-sqlite3 package: install it next to this plugin',
        },
      ],
      { cause: error },
    )
  })
  return sqlite.createSqliteStore({ path, synchronous })
}

/** The durable store asked for; pg, like better-sqlite3, is loaded only when asked for. */
async function openStore(storage: DirectStorage): Promise<DeliveryStore> {
  if (storage.kind === 'sqlite') return openSqliteStore(storage.path, storage.synchronous)
  const postgres = await import('@qualtrics-relay/core/postgres').catch((error: unknown) => {
    throw new ConfigError(
      'Invalid Qualtrics plugin options (1 problem)',
      [{ path: 'storage.databaseUrl', message: 'needs the pg package: install it next to this plugin' }],
      { cause: error },
    )
  })
  return postgres.createPostgresStore({
    url: storage.url,
    ...(storage.schema === undefined ? {} : { schema: storage.schema }),
  })
}

export function createDirectSink(config: ResolvedDirectOptions): Sink {
  const account = {
    apiToken: config.apiToken,
    ...(config.datacenter === undefined ? {} : { datacenter: config.datacenter }),
    ...(config.baseUrl === undefined ? {} : { baseUrl: config.baseUrl }),
  }
  const client = createQualtricsClient({
    ...account,
    ...(config.fetch === undefined ? {} : { fetch: config.fetch }),
    ...(config.logger === undefined ? {} : { logger: config.logger }),
    timeoutMs: config.requestTimeoutMs,
  })
  let closed = false
  // The store and the engine are opened on first use (registration, an event, a flush).
  let running: Promise<Running> | undefined
  function open(): Promise<Running> {
    running ??= (async () => {
      const store = config.storage === undefined ? createMemoryStore() : await openStore(config.storage)
      // Batched `or` look-ups only where checkLive recorded them honoured on this account.
      const record =
        config.liveCheckRecord === undefined ? undefined : readLiveCheckRecord(config.liveCheckRecord)
      const engineConfig = { ...config.delivery, client, store, clock: unrefClock }
      const engine = createDeliveryEngine({
        ...engineConfig,
        // On PostgreSQL: the brand's rate budget and contact-create locks of every instance on the database.
        ...sharedWithFleet(engineConfig),
        orLookups: orLookupsVerified(record, liveCheckAccount(account)),
        ...(config.logger === undefined ? {} : { logger: engineLogger(config.logger) }),
      })
      engine.on('delivered', ({ item }) => {
        settle(item, { ok: true })
        checkIdle()
      })
      engine.on('deadLettered', ({ item, attempts, error }) => {
        settle(item, { ok: false, error: deadError(attempts, error) })
        checkIdle()
      })
      if (!closed) engine.start()
      return { engine, store }
    })()
    return running
  }
  const prepared: PreparedMappings = {
    mappings: config.mappings,
    check: { workflowOrigins: config.workflowOrigins },
  }

  // ---- waiting for outcomes ---------------------------------------------------------------------------
  const waiters = new Map<string, Set<(outcome: Outcome) => void>>()
  /** Stored id → the id a hook waits on, when they differ (an item stored by schema 2 under its old id). */
  const aliases = new Map<string, string>()
  function settle(item: ItemRef, outcome: Outcome): void {
    const id = aliases.get(item.id) ?? item.id
    aliases.delete(item.id)
    const set = waiters.get(id)
    if (!set) return
    waiters.delete(id)
    for (const resolve of set) resolve(outcome)
  }

  // ---- keeping the process alive while items are queued ---------------------------------------------
  let keepAlive: ReturnType<typeof setInterval> | undefined
  let checking = false
  function holdProcess(): void {
    keepAlive ??= setInterval(checkIdle, 1_000)
  }
  function checkIdle(): void {
    if (keepAlive === undefined || checking) return
    checking = true
    setImmediate(() => {
      pendingCount()
        .then((left) => {
          if (left === 0) release()
        })
        .catch(release)
        .finally(() => {
          checking = false
        })
    })
  }
  function release(): void {
    clearInterval(keepAlive)
    keepAlive = undefined
  }

  async function prepare(): Promise<PreparedMappings> {
    await open()
    return prepared
  }

  async function submit(items: DeliveryItem[], options: SubmitOptions): Promise<MappingFailureDetail[]> {
    const ids = items.map((item) => deriveItemId(item))
    // Listen before enqueueing, so a delivery that finishes first is not missed.
    const listening = new AbortController()
    const stop = () => listening.abort()
    options.signal.addEventListener('abort', stop, { once: true })
    const outcomes = options.wait ? ids.map((id) => waitFor(id, listening.signal)) : []
    let results
    let engine: DeliveryEngine
    try {
      ;({ engine } = await open())
      results = await engine.enqueue(items)
    } catch (error) {
      stop()
      options.signal.removeEventListener('abort', stop)
      // Nothing was stored (the store takes all or none): each item fails with the store's error.
      const reason =
        error instanceof RelayError
          ? error
          : new RelayError('STORAGE_ERROR', `The delivery queue refused the items: ${String(error)}`, {
              cause: error,
            })
      return items.map((item) => ({
        messageId: item.messageId,
        mappingId: item.mappingId,
        action: item.action,
        error: reason,
      }))
    } finally {
      if (!options.wait) options.signal.removeEventListener('abort', stop)
    }
    if (results.some((r) => r.status === 'accepted')) holdProcess()
    if (!options.wait) return []
    // A duplicate may already be settled: look it up instead of waiting for an event that has passed.
    // Its stored id is the one waited for, except for an item stored by schema 2 (see DeliveryStore.accept).
    const duplicates = new Map<string, string>()
    results.forEach((r, i) => {
      if (r.status === 'duplicate') duplicates.set(r.id, ids[i] ?? r.id)
    })
    if (duplicates.size > 0) {
      const first = items[0]
      for (const status of await engine.status(first?.messageId ?? '', first?.source)) {
        const waited = duplicates.get(status.id)
        if (waited === undefined) continue
        if (waited !== status.id) aliases.set(status.id, waited)
        if (status.state === 'delivered') settle({ id: waited } as ItemRef, { ok: true })
        if (status.state === 'dead') {
          const error = status.lastError ?? { code: 'DELIVERY_FAILED', message: 'no reason recorded', at: 0 }
          settle({ id: waited } as ItemRef, { ok: false, error: deadError(status.attempts, error) })
        }
      }
    }
    const settled = await Promise.all(outcomes)
    options.signal.removeEventListener('abort', stop)
    const failures: MappingFailureDetail[] = []
    settled.forEach((outcome, index) => {
      const item = items[index]
      if (outcome === undefined || outcome.ok || item === undefined) return
      failures.push({
        messageId: item.messageId,
        mappingId: item.mappingId,
        action: item.action,
        error: outcome.error,
      })
    })
    return failures
  }

  /** Resolves with the item's outcome, or `undefined` once `signal` aborts (the caller reports the timeout). */
  function waitFor(id: string, signal: AbortSignal): Promise<Outcome | undefined> {
    return new Promise((resolve) => {
      const set = waiters.get(id) ?? new Set()
      waiters.set(id, set)
      const done = (outcome: Outcome | undefined) => {
        set.delete(done)
        if (set.size === 0 && waiters.get(id) === set) waiters.delete(id)
        signal.removeEventListener('abort', aborted)
        resolve(outcome)
      }
      const aborted = () => done(undefined)
      set.add(done)
      signal.addEventListener('abort', aborted, { once: true })
    })
  }

  async function pendingCount(): Promise<number> {
    if (running === undefined) return 0
    const counts = await (await running).store.counts()
    return counts.pending + counts.leased
  }

  /** Flushes the engine until nothing is pending, sleeping until the next retry is due, or `signal` aborts. */
  async function flush(signal: AbortSignal): Promise<void> {
    if (closed) return
    const { engine, store } = await open()
    const aborted = new Promise<void>((resolve) => {
      if (signal.aborted) resolve()
      signal.addEventListener('abort', () => resolve(), { once: true })
    })
    while (!signal.aborted) {
      // The engine's flush cannot be cancelled; stop waiting for it when time is up.
      await Promise.race([engine.flush(), aborted])
      if (signal.aborted || (await pendingCount()) === 0) return
      // While the circuit is open nothing is claimed before its next probe, even if due.
      const [due, circuit] = await Promise.all([store.nextDueAt(), engine.circuitState()])
      const next =
        due === undefined || circuit.state !== 'open' ? due : Math.max(due, circuit.nextProbeAt ?? due)
      await sleep(next === undefined ? 50 : Math.min(1_000, Math.max(10, next - Date.now())), {
        ref: false,
        signal,
      })
    }
  }

  async function close(signal: AbortSignal): Promise<void> {
    if (closed) return
    if (running === undefined) {
      closed = true
      return
    }
    const { engine, store } = await running
    try {
      await flush(signal)
    } finally {
      closed = true
      await engine.stop({ drainMs: signal.aborted ? 0 : 5_000 })
      const left = await pendingCount().catch(() => 0)
      if (left > 0) {
        config.logger?.warn(
          { pending: left, durable: config.storage !== undefined },
          config.storage === undefined
            ? 'qualtrics plugin closed with undelivered items in memory; they are lost'
            : 'qualtrics plugin closed with undelivered items; they stay in the database for the next start',
        )
      }
      release()
      await store.close()
    }
  }

  return { prepare, submit, flush, close, pendingCount }
}

function deadError(
  attempts: number,
  error: { code: string; message: string; status?: number },
): ItemDeliveryError {
  return new ItemDeliveryError(
    `Qualtrics did not take the item (${attempts} attempt${attempts === 1 ? '' : 's'}): ${error.message}`,
    error.code,
    error.status === undefined ? {} : { status: error.status },
  )
}

/** The engine wants debug/info/warn/error; the plugin's logger has info and warn. */
function engineLogger(logger: NodePluginLogger): DeliveryLogger {
  const safe = (level: 'info' | 'warn') => (fields: Record<string, unknown>, message: string) => {
    try {
      logger[level](fields, message)
    } catch {
      // A failing logger must not fail delivery.
    }
  }
  return { debug: () => undefined, info: safe('info'), warn: safe('warn'), error: safe('warn') }
}
