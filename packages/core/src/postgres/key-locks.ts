// Single flight across instances: lease rows over keys (a user's identifiers), taken before a contact
// look-up and create and deleted after. Not advisory locks (a session lock breaks behind PgBouncer's
// transaction pooling) and no transaction held open across the Qualtrics call (it would hold vacuum
// back): each acquire, renewal and release is one statement. A live holder renews its lease every third
// of `leaseMs`; one that dies loses its keys when `leaseMs` (on the database's clock) has passed, and
// whoever takes them over searches Qualtrics first, so a contact the dead holder did create is found,
// not created again.

import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import type { SharedKeyLocks } from '../server/delivery/contacts'
import { systemClock } from '../server/delivery/clock'
import { LimiterAbortedError } from '../server/delivery/rate-limiter'

/**
 * Options of `PostgresStore.createKeyLocks`.
 *
 * | option         | default  | meaning                                                                  |
 * |----------------|----------|--------------------------------------------------------------------------|
 * | `leaseMs`      | `30_000` | a dead holder's keys are free for others after this (a live holder renews every third of it) |
 * | `retryMs`      | `25`     | wait between tries while another holder has a key (with jitter, doubling up to 1 s) |
 */
export interface PostgresKeyLocksOptions {
  leaseMs?: number
  retryMs?: number
}

export function createPostgresKeyLocks(
  pool: pg.Pool,
  schema: string,
  options: PostgresKeyLocksOptions = {},
): SharedKeyLocks {
  const leaseMs = options.leaseMs ?? 30_000
  const retryMs = options.retryMs ?? 25
  const table = `"${schema}".key_leases`
  // All or nothing: rows held by a live lease are not returned, and then the ones taken are given back.
  const take = `
    INSERT INTO ${table} (key, owner, until)
    SELECT key, $2, extract(epoch FROM clock_timestamp()) * 1000 + $3
    FROM unnest($1::text[]) AS key ORDER BY key
    ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, until = excluded.until
    WHERE ${table}.until < extract(epoch FROM clock_timestamp()) * 1000
    RETURNING key`
  const give = `DELETE FROM ${table} WHERE key = ANY($1::text[]) AND owner = $2`
  const renew = `UPDATE ${table} SET until = extract(epoch FROM clock_timestamp()) * 1000 + $3
    WHERE key = ANY($1::text[]) AND owner = $2`

  return {
    async acquire(keys: readonly string[], signal?: AbortSignal): Promise<() => Promise<void>> {
      const wanted = [...new Set(keys)].sort()
      const owner = randomUUID()
      let wait = retryMs
      for (;;) {
        // The engine is stopping: stop waiting for another holder (the item is handed back).
        if (signal?.aborted) throw new LimiterAbortedError('stopped while waiting for a contact lock')
        let taken = 0
        try {
          taken = (await pool.query(take, [wanted, owner, leaseMs])).rowCount ?? 0
        } catch {
          // A deadlock with another acquirer or a lost connection: nothing is held; try again.
          taken = -1
        }
        if (taken === wanted.length) {
          // A live holder keeps its keys however long its look-up and create wait (for rate tokens, a
          // slow Qualtrics): the lease is renewed every third of it, so only a dead holder's runs out.
          const renewal = setInterval(() => {
            pool.query(renew, [wanted, owner, leaseMs]).catch(() => {})
          }, leaseMs / 3)
          renewal.unref()
          return async () => {
            clearInterval(renewal)
            await pool.query(give, [wanted, owner])
          }
        }
        if (taken > 0) await pool.query(give, [wanted, owner]).catch(() => {})
        await systemClock.sleep(wait * (0.5 + Math.random()), signal)
        wait = Math.min(1000, wait * 2)
      }
    },
  }
}
