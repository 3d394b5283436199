// The fleet's one Qualtrics rate budget as the panel shows it: the level of the token bucket all the
// instances draw from, read from its row in the database (core's `rate_buckets`, see
// packages/core/src/postgres/migrations.ts). The row holds the level at the last take; the level now
// adds what the bucket refilled since, as `take_tokens` computes it, on the database's clock.
import pg from 'pg'

export interface BucketSettings {
  /** The schema of the proxies' tables. */
  schema: string
  requestsPerMinute: number
  burst: number
  /** `delivery.rateLimitRecoveryMs`: after a 429 the rate climbs back to full over this. */
  recoveryMs: number
}

export interface BucketView {
  /** Tokens in the bucket now (0 to burst). */
  level: number
  burst: number
  requestsPerMinute: number
  /** The share of the rate in force: 1, or less for a while after a 429. */
  rateFactor: number
  /** How long the bucket stays paused after a 429 (0 when not paused). */
  pausedForMs: number
  /** Whether any instance has drawn from it yet (the row exists). */
  used: boolean
}

interface BucketRow {
  tokens: number
  refilled_at: number
  factor: number
  factor_at: number
  paused_until: number
  now: number
}

/** PostgreSQL's codes for a missing schema or table: no instance has migrated the database yet. */
const NOT_CREATED = new Set(['3F000', '42P01'])

export function createBucketReader(databaseUrl: string, settings: BucketSettings) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 })
  // A dropped connection (the server stopping) is reported by the next query.
  pool.on('error', () => {})
  const full: BucketView = {
    level: settings.burst,
    burst: settings.burst,
    requestsPerMinute: settings.requestsPerMinute,
    rateFactor: 1,
    pausedForMs: 0,
    used: false,
  }
  return {
    async read(): Promise<BucketView> {
      let row: BucketRow | undefined
      try {
        const { rows } = await pool.query<BucketRow>(
          `SELECT tokens, refilled_at, factor, factor_at, paused_until,
                  extract(epoch FROM clock_timestamp()) * 1000 AS now
           FROM ${pg.escapeIdentifier(settings.schema)}.rate_buckets WHERE name = 'qualtrics'`,
        )
        row = rows[0]
      } catch (error) {
        if (NOT_CREATED.has((error as { code?: string }).code ?? '')) return full
        throw error
      }
      if (row === undefined) return full
      const perMs = settings.requestsPerMinute / 60_000
      const factor = Math.min(1, row.factor + (row.now - row.factor_at) / settings.recoveryMs)
      // During a pause `refilled_at` lies ahead (at the pause's end): nothing refills until then.
      const refill = Math.max(0, row.now - row.refilled_at) * perMs * factor
      return {
        ...full,
        level: Math.min(settings.burst, row.tokens + refill),
        rateFactor: factor,
        pausedForMs: Math.max(0, row.paused_until - row.now),
        used: true,
      }
    },
    close: () => pool.end(),
  }
}

export type BucketReader = ReturnType<typeof createBucketReader>
