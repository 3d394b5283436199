// The durable DeliveryStore on SQLite (better-sqlite3, WAL). One file holds the queue, the dead letters
// and the contact-id cache, used by one process at a time (open-database.ts locks the file). Statements
// are prepared once; every multi-row change is one transaction.
//
// Writes that callers issue many at a time and independently (accepting a batch, settling an item,
// caching a contact id) are gathered for one turn of the event loop and committed in one transaction:
// a commit costs far more than the statements in it. Each promise still resolves only once its change
// is committed; when the joint commit fails, each write is committed on its own, so a failure stays
// its own. Every other operation first commits what is gathered, so operations take effect in the
// order they were called.

import { ConfigError, describeValue, type FieldIssue } from '../errors'
import { messageOf, StoreError } from '../server/store/errors'
import { rowToItem, type ItemRow } from '../server/store/item-row'
import { markReclaimed } from '../server/store/reclaim'
import { openDatabase } from './open-database'
import type {
  AcceptResult,
  ClaimOptions,
  ContactCacheEntry,
  DeadLetterQuery,
  DeadUpdate,
  DeliveryStore,
  ItemResult,
  ItemState,
  NewItem,
  RetryUpdate,
  StateCounts,
  StoredItem,
  TransactionClaim,
} from '../server/store/types'

/**
 * Options of `createSqliteStore`.
 *
 * | option          | default    | meaning                                                                         |
 * |-----------------|------------|---------------------------------------------------------------------------------|
 * | `path`          | (required) | database file; `:memory:` for a private in-memory database                      |
 * | `synchronous`   | `'full'`   | `'full'`: each commit is on disk before its promise resolves (one fsync of the WAL per commit), so an accepted item survives a power loss or host crash; `'normal'`: no fsync per commit, faster, still safe across process crashes, but a power loss can lose the last commits |
 * | `busyTimeoutMs` | `0`        | how long to wait at open for another process to let go of the file before refusing to open |
 *
 * One process per file: the store holds an exclusive lock on the file while it is open (see
 * open-database.ts), checks the WAL and the database before use, and refuses to open when either is
 * damaged.
 */
export interface SqliteStoreOptions {
  path: string
  synchronous?: 'normal' | 'full'
  busyTimeoutMs?: number
}

/** An items row as better-sqlite3 returns it: JSON columns as text. */
type SqliteRow = ItemRow<string> & { legacy_id: number }

const toItem = (row: SqliteRow): StoredItem => rowToItem(row, (text) => JSON.parse(text) as unknown)

/** The options with their defaults; throws ConfigError listing every bad one. */
export function resolveSqliteStoreOptions(options: SqliteStoreOptions): Required<SqliteStoreOptions> {
  const issues: FieldIssue[] = []
  const o = (options ?? {}) as Partial<Record<keyof SqliteStoreOptions, unknown>>
  if (typeof o.path !== 'string' || o.path.length === 0) {
    issues.push({
      path: 'path',
      message: `must be a file path or ":memory:" (Received: ${describeValue(o.path)})`,
    })
  }
  if (o.synchronous !== undefined && o.synchronous !== 'normal' && o.synchronous !== 'full') {
    issues.push({
      path: 'synchronous',
      message: `must be "normal" or "full" (Received: ${describeValue(o.synchronous)})`,
    })
  }
  if (
    o.busyTimeoutMs !== undefined &&
    (typeof o.busyTimeoutMs !== 'number' || !Number.isInteger(o.busyTimeoutMs) || o.busyTimeoutMs < 0)
  ) {
    issues.push({
      path: 'busyTimeoutMs',
      message: `must be an integer >= 0 (Received: ${describeValue(o.busyTimeoutMs)})`,
    })
  }
  if (issues.length > 0) throw new ConfigError('Invalid SQLite store options', issues)
  return {
    path: options.path,
    synchronous: options.synchronous ?? 'full',
    busyTimeoutMs: options.busyTimeoutMs ?? 0,
  }
}

/** Oldest due first (by `next_attempt_at`, then id), at most `limit`. */
function mergeDue(a: SqliteRow[], b: SqliteRow[], limit: number): SqliteRow[] {
  return [...a, ...b]
    .sort((x, y) => x.next_attempt_at - y.next_attempt_at || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
    .slice(0, limit)
}

/** Opens (creating and migrating as needed) a SQLite file as a DeliveryStore. Throws `ConfigError` for
 * bad options and `StoreError` when the file cannot be opened or has a newer schema. */
export function createSqliteStore(options: SqliteStoreOptions): DeliveryStore {
  const parsed = resolveSqliteStoreOptions(options)
  const db = openDatabase({
    path: parsed.path,
    synchronous: parsed.synchronous,
    lockTimeoutMs: parsed.busyTimeoutMs,
    now: () => new Date(),
  })

  const insertItem = db.prepare(`
    INSERT INTO items (id, message_id, mapping_id, action, payload, source, lookup_by, state, attempts,
                       created_at, updated_at, next_attempt_at)
    VALUES (@id, @messageId, @mappingId, @action, @payload, @source, @lookupBy, 'pending', 0, @now, @now,
            @now)
    ON CONFLICT DO NOTHING`)
  // Due work comes from the two partial indexes, named explicitly: without statistics the planner
  // prefers items_state_updated (state = ?), which reads every leased row and sorts them, on each claim.
  // The two are merged in JS: a UNION ALL of them costs a fixed half millisecond per claim even when
  // both are empty.
  const selectPendingDue = db.prepare(`
    SELECT * FROM items INDEXED BY items_pending_due
    WHERE state = 'pending' AND next_attempt_at <= @now ORDER BY next_attempt_at LIMIT @limit`)
  const selectExpiredLeases = db.prepare(`
    SELECT * FROM items INDEXED BY items_leased_until
    WHERE state = 'leased' AND lease_until <= @now ORDER BY lease_until LIMIT @limit`)
  const leaseItem = db.prepare(
    `UPDATE items SET state = 'leased', lease_owner = @owner, lease_until = @leaseUntil, updated_at = @now WHERE id = @id`,
  )
  const owned = `WHERE id = @id AND state = 'leased' AND lease_owner = @owner`
  const deliverItem = db.prepare(`
    UPDATE items SET state = 'delivered', lease_owner = NULL, lease_until = NULL, updated_at = @now,
                     delivered_at = @now, result = @result ${owned}`)
  // The transaction a delivered item reports is its own (see DeliveryStore.markDelivered).
  const claimDelivered = db.prepare(`
    INSERT INTO transaction_claims (directory_id, transaction_id, item_id, claimed_at)
    SELECT json_extract(payload, '$.directoryId'), @transactionId, id, @now FROM items
    WHERE id = @id AND json_type(payload, '$.directoryId') = 'text'
    ON CONFLICT DO NOTHING`)
  const retryItem = db.prepare(`
    UPDATE items SET state = 'pending', lease_owner = NULL, lease_until = NULL, updated_at = @now,
                     next_attempt_at = @nextAttemptAt, attempts = @attempts, last_error = @error ${owned}`)
  const killItem = db.prepare(`
    UPDATE items SET state = 'dead', lease_owner = NULL, lease_until = NULL, updated_at = @now,
                     attempts = @attempts, last_error = @error ${owned}`)
  const renewItem = db.prepare(`UPDATE items SET lease_until = @leaseUntil, updated_at = @now ${owned}`)
  const releaseItem = db.prepare(`
    UPDATE items SET state = 'pending', lease_owner = NULL, lease_until = NULL, updated_at = @now,
                     next_attempt_at = @now ${owned}`)
  // An item stored before ids included the source (schema 2): a re-sent copy of it is its duplicate.
  const selectLegacy = db.prepare(`
    SELECT id FROM items INDEXED BY items_legacy
    WHERE legacy_id = 1 AND message_id = ? AND mapping_id = ? AND source = ?`)
  const selectByMessage = db.prepare(
    `SELECT * FROM items WHERE message_id = ? ORDER BY created_at, mapping_id`,
  )
  const selectByMessageOf = db.prepare(
    `SELECT * FROM items WHERE message_id = ? AND source = ? ORDER BY created_at, mapping_id`,
  )
  const selectDead = db.prepare(
    `SELECT * FROM items WHERE state = 'dead' AND id > @after ORDER BY id LIMIT @limit`,
  )
  const replayOne = db.prepare(`
    UPDATE items SET state = 'pending', attempts = 0, created_at = @now, updated_at = @now, next_attempt_at = @now
    WHERE id = @id AND state = 'dead'`)
  const replayAll = db.prepare(`
    UPDATE items SET state = 'pending', attempts = 0, created_at = @now, updated_at = @now, next_attempt_at = @now
    WHERE state = 'dead'`)
  const selectNextDue = db.prepare(`
    SELECT min(at) AS at FROM (
      SELECT min(next_attempt_at) AS at FROM items INDEXED BY items_pending_due WHERE state = 'pending'
      UNION ALL
      SELECT min(lease_until) AS at FROM items INDEXED BY items_leased_until WHERE state = 'leased'
    )`)
  // A scan of the unsettled rows (through the two partial indexes); no index on created_at, so it costs
  // O(pending) — read once per metrics scrape.
  const selectOldestPending = db.prepare(`
    SELECT min(at) AS at FROM (
      SELECT min(created_at) AS at FROM items INDEXED BY items_pending_due WHERE state = 'pending'
      UNION ALL
      SELECT min(created_at) AS at FROM items INDEXED BY items_leased_until WHERE state = 'leased'
    )`)
  const selectCounts = db.prepare(`SELECT state, count(*) AS n FROM items GROUP BY state`)
  const selectContact = db.prepare(`SELECT contact_id, expires_at FROM contacts WHERE key = ?`)
  const upsertContact = db.prepare(`
    INSERT INTO contacts (key, contact_id, expires_at) VALUES (@key, @contactId, @expiresAt)
    ON CONFLICT (key) DO UPDATE SET contact_id = excluded.contact_id, expires_at = excluded.expires_at`)
  const deleteContact = db.prepare(`DELETE FROM contacts WHERE key = ?`)
  const pruneItems = db.prepare(`DELETE FROM items WHERE state = 'delivered' AND updated_at < ?`)
  const pruneContacts = db.prepare(`DELETE FROM contacts WHERE expires_at <= ?`)
  // Claims live as long as their item.
  const pruneClaims = db.prepare(`
    DELETE FROM transaction_claims
    WHERE item_id IN (SELECT id FROM items WHERE state = 'delivered' AND updated_at < ?)`)
  const insertClaim = db.prepare(`
    INSERT INTO transaction_claims (directory_id, transaction_id, item_id, claimed_at)
    VALUES (@directoryId, @transactionId, @itemId, @now) ON CONFLICT DO NOTHING`)
  const selectClaim = db.prepare(
    `SELECT item_id FROM transaction_claims WHERE directory_id = ? AND transaction_id = ?`,
  )

  const acceptMany = db.transaction((items: readonly NewItem[], now: number): AcceptResult[] =>
    items.map((item): AcceptResult => {
      const base = { messageId: item.messageId, mappingId: item.mappingId }
      const legacy =
        item.source === undefined
          ? undefined
          : (selectLegacy.get(item.messageId, item.mappingId, item.source) as { id: string } | undefined)
      if (legacy !== undefined) return { ...base, id: legacy.id, status: 'duplicate' }
      const info = insertItem.run({
        id: item.id,
        messageId: item.messageId,
        mappingId: item.mappingId,
        action: item.action,
        payload: JSON.stringify(item.payload),
        source: item.source ?? null,
        lookupBy: item.lookupBy === undefined ? null : JSON.stringify(item.lookupBy),
        now,
      })
      return { ...base, id: item.id, status: info.changes === 1 ? 'accepted' : 'duplicate' }
    }),
  )
  const claimMany = db.transaction(({ now, limit, leaseMs, owner }: ClaimOptions): StoredItem[] => {
    const pending = selectPendingDue.all({ now, limit }) as SqliteRow[]
    const expired = selectExpiredLeases.all({ now, limit }) as SqliteRow[]
    const rows = expired.length === 0 ? pending : mergeDue(pending, expired, limit)
    const leaseUntil = now + leaseMs
    return rows.map((row) => {
      leaseItem.run({ id: row.id, owner, leaseUntil, now })
      const item = toItem({
        ...row,
        state: 'leased',
        lease_owner: owner,
        lease_until: leaseUntil,
        updated_at: now,
      })
      return row.state === 'leased' ? markReclaimed(item, now) : item
    })
  })
  const renewMany = db.transaction(
    (ids: readonly string[], owner: string, leaseUntil: number, now: number): number =>
      ids.reduce((n, id) => n + renewItem.run({ id, owner, leaseUntil, now }).changes, 0),
  )
  const releaseMany = db.transaction((ids: readonly string[], owner: string, now: number): number =>
    ids.reduce((n, id) => n + releaseItem.run({ id, owner, now }).changes, 0),
  )
  const replayMany = db.transaction((ids: readonly string[], now: number): number =>
    ids.reduce((n, id) => n + replayOne.run({ id, now }).changes, 0),
  )
  const putMany = db.transaction((entries: readonly ContactCacheEntry[]) => {
    for (const entry of entries) upsertContact.run(entry)
  })
  const deleteMany = db.transaction((keys: readonly string[]) => {
    for (const key of keys) deleteContact.run(key)
  })
  const claimOne = (claim: TransactionClaim): boolean => {
    insertClaim.run(claim)
    const row = selectClaim.get(claim.directoryId, claim.transactionId) as { item_id: string }
    return row.item_id === claim.itemId
  }
  const pruneAll = db.transaction((deliveredBefore: number, now: number) => {
    pruneClaims.run(deliveredBefore)
    return { items: pruneItems.run(deliveredBefore).changes, contacts: pruneContacts.run(now).changes }
  })
  const deliverOne = db.transaction((id: string, owner: string, now: number, result?: ItemResult) => {
    const json = result === undefined ? null : JSON.stringify(result)
    if (deliverItem.run({ id, owner, now, result: json }).changes !== 1) return false
    if (result?.transactionId !== undefined)
      claimDelivered.run({ id, transactionId: result.transactionId, now })
    return true
  })

  let closed = false
  const closedError = () => new StoreError('The SQLite delivery store is closed', { retryable: false })
  const storeError = (what: string, cause: unknown) =>
    cause instanceof StoreError
      ? cause
      : new StoreError(`SQLite store could not ${what}: ${messageOf(cause)}`, { cause })

  /** Runs one synchronous step (after the gathered writes), turning any failure into a rejected StoreError. */
  function step<T>(what: string, fn: () => T): Promise<T> {
    if (closed) return Promise.reject(closedError())
    commitGathered()
    try {
      return Promise.resolve(fn())
    } catch (cause) {
      return Promise.reject(storeError(what, cause))
    }
  }

  interface GatheredWrite {
    what: string
    fn: () => unknown
    resolve: (value: unknown) => void
    reject: (error: unknown) => void
  }
  let gathered: GatheredWrite[] = []
  let commitScheduled = false
  const commitAll = db.transaction((writes: readonly GatheredWrite[]) => writes.map((w) => w.fn()))

  /** A write committed with the others gathered in this turn of the event loop. */
  function write<T>(what: string, fn: () => T): Promise<T> {
    if (closed) return Promise.reject(closedError())
    return new Promise<T>((resolve, reject) => {
      gathered.push({ what, fn, resolve: resolve as (value: unknown) => void, reject })
      if (!commitScheduled) {
        commitScheduled = true
        setImmediate(commitGathered)
      }
    })
  }

  function commitOne(w: GatheredWrite): void {
    try {
      w.resolve(w.fn())
    } catch (cause) {
      w.reject(storeError(w.what, cause))
    }
  }

  function commitGathered(): void {
    commitScheduled = false
    if (gathered.length === 0) return
    const writes = gathered
    gathered = []
    if (closed) {
      for (const w of writes) w.reject(closedError())
      return
    }
    if (writes.length === 1) {
      commitOne(writes[0] as GatheredWrite)
      return
    }
    let results: unknown[]
    try {
      results = commitAll.immediate(writes)
    } catch {
      // Nothing of the batch was committed: commit each on its own, so a failure is only its own.
      for (const w of writes) commitOne(w)
      return
    }
    writes.forEach((w, i) => w.resolve(results[i]))
  }

  return {
    accept: (items, now) => write('accept items', () => acceptMany(items, now)),
    claim: (options) => step('claim items', () => (options.limit <= 0 ? [] : claimMany.immediate(options))),
    markDelivered: (id, owner, now, result?: ItemResult) =>
      write('mark an item delivered', () => deliverOne(id, owner, now, result)),
    scheduleRetry: (id, owner, update: RetryUpdate) =>
      write(
        'schedule a retry',
        () =>
          retryItem.run({
            id,
            owner,
            now: update.now,
            nextAttemptAt: update.nextAttemptAt,
            attempts: update.attempts,
            error: JSON.stringify(update.error),
          }).changes === 1,
      ),
    markDead: (id, owner, update: DeadUpdate) =>
      write(
        'dead-letter an item',
        () =>
          killItem.run({
            id,
            owner,
            now: update.now,
            attempts: update.attempts,
            error: JSON.stringify(update.error),
          }).changes === 1,
      ),
    renewLeases: (ids, owner, leaseUntil, now) =>
      step('renew leases', () => renewMany(ids, owner, leaseUntil, now)),
    release: (ids, owner, now) => step('release leases', () => releaseMany(ids, owner, now)),
    getByMessageId: (messageId, source?: string) =>
      step('read an item', () =>
        (
          (source === undefined
            ? selectByMessage.all(messageId)
            : selectByMessageOf.all(messageId, source)) as SqliteRow[]
        ).map(toItem),
      ),
    listDeadLetters: (query: DeadLetterQuery = {}) =>
      step('list dead letters', () =>
        (selectDead.all({ after: query.after ?? '', limit: query.limit ?? 100 }) as SqliteRow[]).map(toItem),
      ),
    replayDeadLetters: (ids, now) =>
      step('replay dead letters', () =>
        ids === undefined ? replayAll.run({ now }).changes : replayMany(ids, now),
      ),
    nextDueAt: () =>
      step('read the next due time', () => (selectNextDue.get() as { at: number | null }).at ?? undefined),
    oldestPendingAt: () =>
      step(
        'read the oldest pending item',
        () => (selectOldestPending.get() as { at: number | null }).at ?? undefined,
      ),
    counts: () =>
      step('count items', () => {
        const counts: StateCounts = { pending: 0, leased: 0, delivered: 0, dead: 0 }
        for (const row of selectCounts.all() as { state: ItemState; n: number }[]) counts[row.state] = row.n
        return counts
      }),
    // Gathered like a settle: it resolves once the claim is committed, before the item settles on it.
    claimListedTransaction: (claim) => write('claim a listed transaction', () => claimOne(claim)),
    getContact: (key, now) =>
      step('read the contact cache', () => {
        const row = selectContact.get(key) as { contact_id: string; expires_at: number } | undefined
        return row === undefined || row.expires_at <= now ? undefined : row.contact_id
      }),
    putContacts: (entries) => write('write the contact cache', () => putMany(entries)),
    deleteContacts: (keys) => write('delete from the contact cache', () => deleteMany(keys)),
    prune: ({ deliveredBefore, now }) => step('prune', () => pruneAll(deliveredBefore, now)),
    close: () => {
      if (closed) return Promise.resolve()
      commitGathered()
      closed = true
      try {
        db.close()
        return Promise.resolve()
      } catch (cause) {
        return Promise.reject(new StoreError(`SQLite store could not close: ${messageOf(cause)}`, { cause }))
      }
    },
  }
}
