// One brand-wide rate budget for every engine on a database: a token bucket in one row, refilled on the
// database's clock. An instance takes as many tokens as it has requests waiting (up to `maxTake`) in
// one round trip, hands them out, and drops what it has not used after `holdMs`, so a token is never
// spent long after it was granted (an error can only under-use the limit). A 429 seen by any instance
// empties the bucket, pauses it and halves its rate for all; the rate climbs back over `recoveryMs`.

import type pg from 'pg'
import type { Clock } from '../server/delivery/clock'
import {
  LimiterAbortedError,
  type RateBudget,
  type RateBudgetSnapshot,
} from '../server/delivery/rate-limiter'

/**
 * Options of `PostgresStore.createRateBudget`.
 *
 * | option              | default        | meaning                                                          |
 * |---------------------|----------------|------------------------------------------------------------------|
 * | `name`              | `'qualtrics'`  | the bucket's row: engines with one name share one budget         |
 * | `requestsPerMinute` | (required)     | the fleet's sustained rate (e.g. 80 % of the brand's 3,000/min)   |
 * | `burst`             | (required)     | bucket size                                                      |
 * | `recoveryMs`        | `60_000`       | after a 429 the rate halves and climbs back linearly over this   |
 * | `pauseBaseMs`, `pauseMaxMs` | `1000`, `300_000` | pause after a 429 without Retry-After, doubling per 429 in a row |
 * | `maxTake`           | `10`           | most tokens taken in one round trip                              |
 * | `holdMs`            | `1000`         | unused tokens are dropped after this                             |
 * | `clock`             | real time      | for the local waits only; the bucket runs on the database's clock |
 * | `onGrant`           | none           | told each grant: how many, and when on the database's clock (metrics, tests) |
 */
export interface PostgresRateBudgetOptions {
  name?: string
  requestsPerMinute: number
  burst: number
  recoveryMs?: number
  pauseBaseMs?: number
  pauseMaxMs?: number
  minFactor?: number
  maxTake?: number
  holdMs?: number
  clock?: Clock
  onGrant?: (grant: { granted: number; at: number; level: number }) => void
}

/** A shared budget also tells the bucket's last known level (for metrics). */
export interface SharedRateBudget extends RateBudget {
  /** Tokens in the bucket at the last round trip. */
  level(): number
}

interface TakeRow {
  granted: number
  at: number
  level: number
  wait_ms: number
  factor: number
  paused: boolean
}

interface BucketRow {
  tokens: number
  refilled_at: number
  factor: number
  factor_at: number
  paused_until: number
  now: number
}

interface Waiter {
  resolve: () => void
  reject: (error: unknown) => void
  signal: AbortSignal | undefined
}

const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer)
          resolve()
        },
        { once: true },
      )
    }),
}

export function createPostgresRateBudget(
  pool: pg.Pool,
  schema: string,
  options: PostgresRateBudgetOptions,
): SharedRateBudget {
  const name = options.name ?? 'qualtrics'
  const perMs = options.requestsPerMinute / 60_000
  const burst = options.burst
  const recoveryMs = options.recoveryMs ?? 60_000
  const pauseBaseMs = options.pauseBaseMs ?? 1000
  const pauseMaxMs = options.pauseMaxMs ?? 300_000
  const minFactor = options.minFactor ?? 0.1
  const maxTake = options.maxTake ?? 10
  const holdMs = options.holdMs ?? 1000
  const clock = options.clock ?? realClock
  const s = `"${schema}"`

  let waiters: Waiter[] = []
  /** Tokens granted and not yet handed out, and when they are dropped. */
  let tokens = 0
  let tokensUntil = 0
  let pauseEnd = 0
  let factor = 1
  let level = burst
  let consecutive429 = 0
  let pumping = false

  function dropAborted(): void {
    const stopped = waiters.filter((w) => w.signal?.aborted)
    if (stopped.length === 0) return
    waiters = waiters.filter((w) => !w.signal?.aborted)
    for (const w of stopped) w.reject(new LimiterAbortedError('stopped while waiting for a rate-limit token'))
  }

  async function take(want: number): Promise<TakeRow | undefined> {
    try {
      const { rows } = await pool.query<TakeRow>(
        `SELECT granted, at, level, wait_ms, factor, paused FROM ${s}.take_tokens($1, $2, $3, $4, $5)`,
        [name, want, perMs, burst, recoveryMs],
      )
      return rows[0]
    } catch {
      return undefined // the database is away: wait and ask again (never over-spend)
    }
  }

  /** Hands out tokens while requests wait; fetches more in one round trip when it has none. */
  async function pump(): Promise<void> {
    if (pumping) return
    pumping = true
    try {
      for (;;) {
        dropAborted()
        if (waiters.length === 0) return
        const now = clock.now()
        if (now >= tokensUntil) tokens = 0
        if (now < pauseEnd) tokens = 0
        if (tokens >= 1) {
          tokens--
          waiters.shift()?.resolve()
          continue
        }
        const row = await take(Math.min(maxTake, waiters.length))
        if (row === undefined) {
          await clock.sleep(100)
          continue
        }
        level = row.level
        factor = row.factor
        if (row.granted > 0) {
          options.onGrant?.({ granted: row.granted, at: row.at, level: row.level })
          tokens = row.granted
          tokensUntil = clock.now() + holdMs
          continue
        }
        // Paused by a 429 another instance saw: this one's retries wait for it too.
        if (row.paused) pauseEnd = Math.max(pauseEnd, clock.now() + row.wait_ms)
        await clock.sleep(Math.max(1, Math.min(1000, Math.ceil(row.wait_ms))))
      }
    } finally {
      pumping = false
    }
  }

  return {
    acquire(signal?: AbortSignal): Promise<void> {
      if (signal?.aborted)
        return Promise.reject(new LimiterAbortedError('stopped while waiting for a rate-limit token'))
      const turn = new Promise<void>((resolve, reject) => {
        waiters.push({ resolve, reject, signal })
        signal?.addEventListener('abort', dropAborted, { once: true })
      })
      void pump()
      return turn
    },
    onRateLimited(retryAfterMs?: number): number {
      const now = clock.now()
      consecutive429++
      factor = Math.max(minFactor, factor / 2)
      tokens = 0
      const pause =
        retryAfterMs !== undefined && retryAfterMs >= 0
          ? retryAfterMs
          : Math.min(pauseMaxMs, pauseBaseMs * 2 ** (consecutive429 - 1))
      pauseEnd = Math.max(pauseEnd, now + pause)
      // Every instance: the row is paused and its rate halved (in the background; the pause above
      // already holds this instance back).
      pool
        .query(`SELECT ${s}.rate_limited($1, $2, $3, $4, $5, $6)`, [
          name,
          retryAfterMs !== undefined && retryAfterMs >= 0 ? retryAfterMs : null,
          minFactor,
          recoveryMs,
          pauseBaseMs,
          pauseMaxMs,
        ])
        .catch(() => {})
      return pauseEnd - now
    },
    onSuccess(): void {
      if (consecutive429 === 0) return
      consecutive429 = 0
      pool
        .query(`UPDATE ${s}.rate_buckets SET consecutive_429 = 0 WHERE name = $1 AND consecutive_429 > 0`, [
          name,
        ])
        .catch(() => {})
    },
    pausedUntil: () => (pauseEnd > clock.now() ? pauseEnd : 0),
    currentRate: () => perMs * 1000 * factor,
    level: () => level,
    // One read of the row, refilled as take_tokens would refill it now (changing nothing): what every
    // instance sees, also one that has sent nothing for a while. No row yet: nobody took a token.
    async snapshot(): Promise<RateBudgetSnapshot> {
      const { rows } = await pool.query<BucketRow>(
        `SELECT tokens, refilled_at, factor, factor_at, paused_until,
                (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now
         FROM ${s}.rate_buckets WHERE name = $1`,
        [name],
      )
      const row = rows[0]
      if (row === undefined)
        return { scope: 'fleet', tokens: burst, requestsPerMinute: perMs * 60_000, pausedUntil: 0 }
      const f = Math.min(1, row.factor + (row.now - row.factor_at) / recoveryMs)
      return {
        scope: 'fleet',
        tokens: Math.min(burst, row.tokens + Math.max(0, row.now - row.refilled_at) * perMs * f),
        requestsPerMinute: perMs * 60_000 * f,
        pausedUntil: row.paused_until > row.now ? row.paused_until : 0,
      }
    },
  }
}
