// The DeliveryStore on PostgreSQL (pg), for several proxy instances on one database. Plain SQL, one
// statement per operation, so every operation is atomic on its own and no transaction stays open
// between round trips:
// - claims lease the oldest due rows in one UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED), so
//   instances claiming at the same moment each get other rows and never wait for each other;
// - leases live in the rows (owner, until); every settle names its owner and changes nothing when the
//   lease has passed to someone else;
// - a row taken over from an expired lease is marked "possibly written" in the row itself, so the
//   mark outlives the new owner too.
// Times are the caller's clock (the engine's), as with every store; instances should run NTP, with a
// skew far below the lease length.

import pg from 'pg'
import { messageOf, StoreError } from '../server/store/errors'
import { rowToItem, type ItemRow } from '../server/store/item-row'
import { reclaimedError } from '../server/store/reclaim'
import type {
  AcceptResult,
  ClaimOptions,
  ContactCacheEntry,
  DeadLetterQuery,
  DeliveryStore,
  NewItem,
  StateCounts,
  StoredItem,
} from '../server/store/types'
import type { SharedKeyLocks } from '../server/delivery/contacts'
import type { Circuit } from '../server/delivery/circuit'
import { createPostgresCircuit, type PostgresCircuitOptions } from './circuit'
import { createPostgresKeyLocks, type PostgresKeyLocksOptions } from './key-locks'
import { migrate } from './migrations'
import {
  createPostgresRateBudget,
  type PostgresRateBudgetOptions,
  type SharedRateBudget,
} from './rate-budget'
import { maskDatabaseUrl } from '../server/store/database-url'
import { parsePostgresStoreOptions, type PostgresStoreOptions } from './options'

/** A DeliveryStore on PostgreSQL, plus a health check for readiness probes and what a fleet shares: the
 * rate budget, contact locks and the Qualtrics circuit. */
export interface PostgresStore extends DeliveryStore {
  /** Resolves when the database answers; rejects with a retryable StoreError otherwise. */
  ping(): Promise<void>
  /** A rate budget shared by every engine on this database that uses the same `name` (pass it to
   * `createDeliveryEngine({ rateBudget })`). Uses this store's connections. */
  createRateBudget(options: PostgresRateBudgetOptions): SharedRateBudget
  /** Locks shared by every engine on this database, for single-flight contact creation (pass them to
   * `createDeliveryEngine({ contactLocks })`). Uses this store's connections. */
  createKeyLocks(options?: PostgresKeyLocksOptions): SharedKeyLocks
  /** The Qualtrics circuit shared by every engine on this database that uses the same `name`: one
   * instance's outage failures hold every instance back, one probe at a time across them closes it (pass
   * it to `createDeliveryEngine({ circuit })`). Uses this store's connections. */
  createCircuit(options?: PostgresCircuitOptions): Circuit
}

/** An items row as pg returns it: json/jsonb columns already parsed. */
type PostgresRow = ItemRow<unknown>

const toItem = (row: PostgresRow): StoredItem => rowToItem(row, (value) => value)

/** Rows deleted per statement when pruning, so a large prune never holds one long transaction. */
const PRUNE_CHUNK = 5000

const INT8_OID = 20

/** bigint columns (times in ms, counts) as numbers: every value here is far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
}

/** The statements, written once for one schema. */
function statements(schema: string) {
  const items = `"${schema}".items`
  const contacts = `"${schema}".contacts`
  const claims = `"${schema}".transaction_claims`
  const owned = `id = $1 AND state = 'leased' AND lease_owner = $2`
  const settled = `lease_owner = NULL, lease_until = NULL`
  return {
    accept: `
      INSERT INTO ${items} (id, message_id, mapping_id, action, payload, source, lookup_by, state, attempts,
                            created_at, updated_at, next_attempt_at, due_at)
      SELECT x.id, x.message_id, x.mapping_id, x.action, x.payload, x.source, x.lookup_by, 'pending', 0,
             $2::bigint, $2::bigint, $2::bigint, $2::bigint
      FROM json_to_recordset($1::json) AS x(id text, message_id text, mapping_id text, action text,
                                            payload json, source text, lookup_by jsonb)
      ON CONFLICT (id) DO NOTHING
      RETURNING id`,
    // $1 now, $2 limit, $3 owner, $4 lease end, $5 the error of a reclaimed row that had none.
    claim: `
      UPDATE ${items} AS i
      SET state = 'leased', lease_owner = $3, lease_until = $4, due_at = $4, updated_at = $1,
          last_error = CASE WHEN due.was = 'leased'
                            THEN coalesce(i.last_error, $5::jsonb) || '{"possiblyWritten": true}'::jsonb
                            ELSE i.last_error END
      FROM (SELECT id, state AS was, due_at AS was_due FROM ${items}
            WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2
            FOR UPDATE SKIP LOCKED) AS due
      WHERE i.id = due.id
      RETURNING i.*, due.was_due`,
    // $5: the transaction id of the result, claimed for the item in the same statement (see
    // DeliveryStore.markDelivered); the count is of the rows settled.
    deliver: `
      WITH settled AS (
        UPDATE ${items} SET state = 'delivered', ${settled}, due_at = NULL, updated_at = $3, delivered_at = $3,
                            result = $4::jsonb
        WHERE ${owned}
        RETURNING id, payload->>'directoryId' AS directory_id
      ), claimed AS (
        INSERT INTO ${claims} (directory_id, transaction_id, item_id, claimed_at)
        SELECT directory_id, $5, id, $3 FROM settled WHERE $5::text IS NOT NULL AND directory_id IS NOT NULL
        ON CONFLICT DO NOTHING
      )
      SELECT count(*)::int AS n FROM settled`,
    retry: `
      UPDATE ${items} SET state = 'pending', ${settled}, due_at = $4, next_attempt_at = $4, updated_at = $3,
                          attempts = $5, last_error = $6::jsonb
      WHERE ${owned}`,
    kill: `
      UPDATE ${items} SET state = 'dead', ${settled}, due_at = NULL, updated_at = $3, attempts = $4,
                          last_error = $5::jsonb
      WHERE ${owned}`,
    renew: `
      UPDATE ${items} SET lease_until = $3, due_at = $3, updated_at = $4
      WHERE id = ANY($1::text[]) AND state = 'leased' AND lease_owner = $2`,
    release: `
      UPDATE ${items} SET state = 'pending', ${settled}, due_at = $3, next_attempt_at = $3, updated_at = $3
      WHERE id = ANY($1::text[]) AND state = 'leased' AND lease_owner = $2`,
    byMessage: `SELECT * FROM ${items} WHERE message_id = $1 AND ($2::text IS NULL OR source = $2)
      ORDER BY created_at, mapping_id`,
    dead: `SELECT * FROM ${items} WHERE state = 'dead' AND id > $1 ORDER BY id LIMIT $2`,
    replay: `
      UPDATE ${items} SET state = 'pending', attempts = 0, created_at = $1, updated_at = $1,
                          next_attempt_at = $1, due_at = $1
      WHERE state = 'dead'`,
    nextDue: `SELECT min(due_at) AS at FROM ${items} WHERE due_at IS NOT NULL`,
    // Unsettled rows are the ones with a due time (items_due); O(unsettled), read once per scrape.
    oldestPending: `SELECT min(created_at) AS at FROM ${items} WHERE due_at IS NOT NULL`,
    // Read on each metrics scrape. Each state through its own partial index rather than a GROUP BY
    // over the heap: unsettled rows through items_due (few), dead and delivered by index-only scans of
    // items_dead and items_delivered (narrow: no payloads). Delivered stays O(delivered until pruned),
    // but reads ~1/19 of the pages (100k rows: 276 vs 5,322; docs/postgres-store.md).
    counts: `
      SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
             count(*) FILTER (WHERE state = 'leased') AS leased,
             (SELECT count(*) FROM ${items} WHERE state = 'delivered') AS delivered,
             (SELECT count(*) FROM ${items} WHERE state = 'dead') AS dead
      FROM ${items} WHERE due_at IS NOT NULL`,
    getContact: `SELECT contact_id FROM ${contacts} WHERE key = $1 AND expires_at > $2`,
    putContacts: `
      INSERT INTO ${contacts} (key, contact_id, expires_at)
      SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
      ON CONFLICT (key) DO UPDATE SET contact_id = excluded.contact_id, expires_at = excluded.expires_at`,
    deleteContacts: `DELETE FROM ${contacts} WHERE key = ANY($1::text[])`,
    // A chunk of delivered rows past retention, with their transaction claims; the count is of items.
    pruneItems: `
      WITH gone AS (
        DELETE FROM ${items} WHERE id IN (
          SELECT id FROM ${items} WHERE state = 'delivered' AND updated_at < $1 LIMIT ${PRUNE_CHUNK}
          FOR UPDATE SKIP LOCKED)
        RETURNING id
      ), dropped AS (DELETE FROM ${claims} WHERE item_id IN (SELECT id FROM gone))
      SELECT count(*)::int AS n FROM gone`,
    pruneContacts: `DELETE FROM ${contacts} WHERE expires_at <= $1`,
    // Insert or read the holder in one statement. DO UPDATE (a no-op) rather than DO NOTHING: it locks
    // and returns the existing row even when its insert committed after this statement's snapshot,
    // where a second SELECT in the statement would not see it. Conflicts are rare (a retry, or two
    // identical transactions), so the row versions it leaves cost nothing.
    claimTransaction: `
      INSERT INTO ${claims} AS c (directory_id, transaction_id, item_id, claimed_at) VALUES ($1, $2, $3, $4)
      ON CONFLICT (directory_id, transaction_id) DO UPDATE SET item_id = c.item_id
      RETURNING item_id`,
  }
}

/** JSON for a jsonb column: jsonb refuses the NUL character, which an error message may carry. */
function jsonb(value: unknown): string {
  return JSON.stringify(value).replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd')
}

function encodeItems(items: readonly NewItem[]): string {
  try {
    return JSON.stringify(
      items.map((item) => ({
        id: item.id,
        message_id: item.messageId,
        mapping_id: item.mappingId,
        action: item.action,
        payload: item.payload,
        source: item.source ?? null,
        lookup_by: item.lookupBy ?? null,
      })),
    )
  } catch (cause) {
    throw new StoreError(`Could not store the items: ${messageOf(cause)}`, { cause, retryable: false })
  }
}

/**
 * Connects to PostgreSQL, brings the schema up to date (safe when several processes start at once) and
 * returns the store. Throws `ConfigError` for bad options and `StoreError` when the database cannot be
 * reached or has a newer schema.
 */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const parsed = parsePostgresStoreOptions(options)
  const where = maskDatabaseUrl(parsed.url)
  const pool = new pg.Pool({
    connectionString: parsed.url,
    max: parsed.poolSize,
    connectionTimeoutMillis: parsed.connectTimeoutMs,
    statement_timeout: parsed.statementTimeoutMs,
    application_name: parsed.applicationName,
    types,
  })
  // An idle connection that breaks (server restart, network) must not end the process: the pool drops
  // it and the next query opens a new one.
  pool.on('error', (error) => parsed.logger?.warn({ err: messageOf(error) }, 'PostgreSQL connection lost'))

  try {
    const client = await pool.connect()
    try {
      await migrate(client, parsed.schema)
    } finally {
      client.release()
    }
  } catch (cause) {
    await pool.end().catch(() => {})
    if (cause instanceof StoreError) throw cause
    throw new StoreError(`Could not open the PostgreSQL store at ${where}: ${messageOf(cause)}`, { cause })
  }

  const sql = statements(parsed.schema)
  let closed = false

  async function query<R extends pg.QueryResultRow>(
    what: string,
    text: string,
    values: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    if (closed) throw new StoreError('The PostgreSQL delivery store is closed', { retryable: false })
    try {
      return await pool.query<R>(text, values)
    } catch (cause) {
      throw new StoreError(`PostgreSQL store could not ${what}: ${messageOf(cause)}`, { cause })
    }
  }
  const changed = async (what: string, text: string, values: unknown[]) =>
    (await query(what, text, values)).rowCount ?? 0
  /** For statements that change rows in a CTE and answer how many in one row (`n`). */
  const counted = async (what: string, text: string, values: unknown[]) =>
    (await query<{ n: number }>(what, text, values)).rows[0]?.n ?? 0

  return {
    async accept(items, now): Promise<AcceptResult[]> {
      const encoded = encodeItems(items)
      if (closed) throw new StoreError('The PostgreSQL delivery store is closed', { retryable: false })
      if (items.length === 0) return []
      const { rows } = await query<{ id: string }>('accept items', sql.accept, [encoded, now])
      const inserted = new Set(rows.map((r) => r.id))
      // Of two items with one id in the call, the first was stored and the second is its duplicate.
      return items.map((item) => {
        const accepted = inserted.delete(item.id)
        return {
          id: item.id,
          messageId: item.messageId,
          mappingId: item.mappingId,
          status: accepted ? 'accepted' : 'duplicate',
        }
      })
    },

    async claim({ now, limit, leaseMs, owner }: ClaimOptions): Promise<StoredItem[]> {
      if (closed) throw new StoreError('The PostgreSQL delivery store is closed', { retryable: false })
      if (limit <= 0) return []
      const { rows } = await query<PostgresRow & { was_due: number }>('claim items', sql.claim, [
        now,
        limit,
        owner,
        now + leaseMs,
        jsonb(reclaimedError(now)),
      ])
      rows.sort((a, b) => a.was_due - b.was_due || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      return rows.map(toItem)
    },

    markDelivered: async (id, owner, now, result) =>
      (await counted('mark an item delivered', sql.deliver, [
        id,
        owner,
        now,
        result === undefined ? null : jsonb(result),
        result?.transactionId ?? null,
      ])) === 1,

    scheduleRetry: async (id, owner, update) =>
      (await changed('schedule a retry', sql.retry, [
        id,
        owner,
        update.now,
        update.nextAttemptAt,
        update.attempts,
        jsonb(update.error),
      ])) === 1,

    markDead: async (id, owner, update) =>
      (await changed('dead-letter an item', sql.kill, [
        id,
        owner,
        update.now,
        update.attempts,
        jsonb(update.error),
      ])) === 1,

    renewLeases: (ids, owner, leaseUntil, now) =>
      changed('renew leases', sql.renew, [ids, owner, leaseUntil, now]),

    release: (ids, owner, now) => changed('release leases', sql.release, [ids, owner, now]),

    getByMessageId: async (messageId, source?: string) =>
      (await query<PostgresRow>('read an item', sql.byMessage, [messageId, source ?? null])).rows.map(toItem),

    listDeadLetters: async (deadQuery: DeadLetterQuery = {}) =>
      (
        await query<PostgresRow>('list dead letters', sql.dead, [
          deadQuery.after ?? '',
          deadQuery.limit ?? 100,
        ])
      ).rows.map(toItem),

    replayDeadLetters: (ids, now) =>
      ids === undefined
        ? changed('replay dead letters', sql.replay, [now])
        : changed('replay dead letters', `${sql.replay} AND id = ANY($2::text[])`, [now, ids]),

    async nextDueAt() {
      const { rows } = await query<{ at: number | null }>('read the next due time', sql.nextDue)
      return rows[0]?.at ?? undefined
    },

    async oldestPendingAt() {
      const { rows } = await query<{ at: number | null }>('read the oldest pending item', sql.oldestPending)
      return rows[0]?.at ?? undefined
    },

    async counts() {
      const { rows } = await query<StateCounts>('count items', sql.counts)
      const [row] = rows
      return {
        pending: row?.pending ?? 0,
        leased: row?.leased ?? 0,
        delivered: row?.delivered ?? 0,
        dead: row?.dead ?? 0,
      }
    },

    async claimListedTransaction({ directoryId, transactionId, itemId, now }) {
      const { rows } = await query<{ item_id: string }>('claim a listed transaction', sql.claimTransaction, [
        directoryId,
        transactionId,
        itemId,
        now,
      ])
      return rows[0]?.item_id === itemId
    },

    async getContact(key, now) {
      const { rows } = await query<{ contact_id: string }>('read the contact cache', sql.getContact, [
        key,
        now,
      ])
      return rows[0]?.contact_id
    },

    async putContacts(entries: readonly ContactCacheEntry[]) {
      // One row per key (the last entry wins): an upsert may not touch a row twice in one statement.
      const byKey = new Map(entries.map((e) => [e.key, e]))
      if (byKey.size === 0) return
      const list = [...byKey.values()]
      await query('write the contact cache', sql.putContacts, [
        list.map((e) => e.key),
        list.map((e) => e.contactId),
        list.map((e) => e.expiresAt),
      ])
    },

    async deleteContacts(keys) {
      if (keys.length > 0) await query('delete from the contact cache', sql.deleteContacts, [keys])
    },

    async prune({ deliveredBefore, now }) {
      let items = 0
      for (;;) {
        const n = await counted('prune delivered items', sql.pruneItems, [deliveredBefore])
        items += n
        if (n < PRUNE_CHUNK) break
      }
      const contacts = await changed('prune the contact cache', sql.pruneContacts, [now])
      return { items, contacts }
    },

    createRateBudget: (budget) => createPostgresRateBudget(pool, parsed.schema, budget),
    createKeyLocks: (locks) => createPostgresKeyLocks(pool, parsed.schema, locks),
    createCircuit: (circuit) => createPostgresCircuit(pool, parsed.schema, circuit),

    async ping() {
      await query('answer a health check', 'SELECT 1')
    },

    async close() {
      if (closed) return
      closed = true
      try {
        await pool.end()
      } catch (cause) {
        throw new StoreError(`PostgreSQL store could not close: ${messageOf(cause)}`, { cause })
      }
    },
  }
}
