// Versioned schema changes of the PostgreSQL store. Every process runs `migrate` when it opens the
// store; several may start at the same moment (a fleet rolling out), so the whole migration is one
// transaction that first takes a transaction-scoped advisory lock: the others wait for it, then find
// the work done. A transaction-scoped lock (unlike a session lock) is released by COMMIT, so it also
// holds behind PgBouncer's transaction pooling.

import type pg from 'pg'
import { StoreError } from '../server/store/errors'

/** The schema version this code writes. */
export const POSTGRES_SCHEMA_VERSION = 5

/**
 * Migrations by target version; `s` is the quoted schema name.
 *
 * `due_at` is when the row next needs an engine: the next attempt of a pending item, the lease end of a
 * leased one, NULL once settled. Claims read the partial index on it, which holds only the rows still
 * in play, so delivered rows piling up until `prune` cost claims nothing.
 */
const MIGRATIONS: readonly (readonly [number, (s: string) => string])[] = [
  [
    1,
    (s) => `
    CREATE TABLE ${s}.items (
      id text COLLATE "C" PRIMARY KEY,
      message_id text NOT NULL,
      mapping_id text NOT NULL,
      action text NOT NULL,
      payload json NOT NULL,
      source text,
      lookup_by jsonb,
      state text NOT NULL CHECK (state IN ('pending', 'leased', 'delivered', 'dead')),
      attempts integer NOT NULL,
      created_at bigint NOT NULL,
      updated_at bigint NOT NULL,
      next_attempt_at bigint NOT NULL,
      due_at bigint CHECK ((due_at IS NOT NULL) = (state IN ('pending', 'leased'))),
      lease_owner text,
      lease_until bigint,
      delivered_at bigint,
      last_error jsonb,
      result jsonb
    ) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02,
            autovacuum_analyze_scale_factor = 0.02);
    CREATE INDEX items_due ON ${s}.items (due_at, id) WHERE due_at IS NOT NULL;
    CREATE INDEX items_message ON ${s}.items (message_id);
    CREATE INDEX items_delivered ON ${s}.items (updated_at) WHERE state = 'delivered';
    CREATE INDEX items_dead ON ${s}.items (id) WHERE state = 'dead';
    CREATE TABLE ${s}.contacts (
      key text COLLATE "C" PRIMARY KEY,
      contact_id text NOT NULL,
      expires_at bigint NOT NULL
    );
    CREATE INDEX contacts_expires ON ${s}.contacts (expires_at);
    `,
  ],
  // 2: shared rate budgets (rate-budget.ts). Times are ms on the database's clock, so every instance
  // refills the bucket on one clock. The two functions lock the row, then read the clock, so grants are
  // ordered by their times.
  [
    2,
    (s) => `
    CREATE TABLE ${s}.rate_buckets (
      name text PRIMARY KEY,
      tokens double precision NOT NULL,
      refilled_at double precision NOT NULL,
      factor double precision NOT NULL DEFAULT 1,
      factor_at double precision NOT NULL DEFAULT 0,
      paused_until double precision NOT NULL DEFAULT 0,
      consecutive_429 integer NOT NULL DEFAULT 0
    );
    CREATE FUNCTION ${s}.take_tokens(bucket text, want integer, per_ms double precision,
                                     burst double precision, recovery_ms double precision,
                                     OUT granted integer, OUT at double precision, OUT level double precision,
                                     OUT wait_ms double precision, OUT factor double precision,
                                     OUT paused boolean)
    LANGUAGE plpgsql AS $$
    DECLARE b ${s}.rate_buckets;
    BEGIN
      SELECT * INTO b FROM ${s}.rate_buckets WHERE name = bucket FOR UPDATE;
      IF NOT FOUND THEN
        INSERT INTO ${s}.rate_buckets (name, tokens, refilled_at)
        VALUES (bucket, burst, extract(epoch FROM clock_timestamp()) * 1000)
        ON CONFLICT (name) DO NOTHING;
        SELECT * INTO b FROM ${s}.rate_buckets WHERE name = bucket FOR UPDATE;
      END IF;
      at := extract(epoch FROM clock_timestamp()) * 1000;
      factor := least(1, b.factor + (at - b.factor_at) / recovery_ms);
      level := least(burst, b.tokens + greatest(0, at - b.refilled_at) * per_ms * factor);
      paused := at < b.paused_until;
      IF paused THEN
        granted := 0;
        wait_ms := b.paused_until - at;
      ELSE
        granted := least(want, floor(level))::integer;
        level := level - granted;
        wait_ms := CASE WHEN granted > 0 THEN 0 ELSE (1 - level) / (per_ms * factor) END;
      END IF;
      UPDATE ${s}.rate_buckets SET tokens = level, refilled_at = greatest(b.refilled_at, at)
      WHERE name = bucket;
    END $$;
    CREATE FUNCTION ${s}.rate_limited(bucket text, retry_after_ms double precision,
                                      min_factor double precision, recovery_ms double precision,
                                      pause_base_ms double precision, pause_max_ms double precision)
    RETURNS double precision LANGUAGE plpgsql AS $$
    DECLARE b ${s}.rate_buckets; at double precision; pause double precision;
    BEGIN
      SELECT * INTO b FROM ${s}.rate_buckets WHERE name = bucket FOR UPDATE;
      IF NOT FOUND THEN RETURN 0; END IF;
      at := extract(epoch FROM clock_timestamp()) * 1000;
      pause := coalesce(retry_after_ms, least(pause_max_ms, pause_base_ms * 2 ^ b.consecutive_429));
      -- No tokens accrue during the pause: it ends with an empty bucket, not a burst into the limit.
      UPDATE ${s}.rate_buckets
      SET consecutive_429 = b.consecutive_429 + 1,
          factor = greatest(min_factor, least(1, b.factor + (at - b.factor_at) / recovery_ms) / 2),
          factor_at = at, tokens = 0,
          paused_until = greatest(b.paused_until, at + pause),
          refilled_at = greatest(b.refilled_at, b.paused_until, at + pause)
      WHERE name = bucket;
      RETURN greatest(b.paused_until, at + pause) - at;
    END $$;
    `,
  ],
  // 3: leases on keys (key-locks.ts): single flight of contact creation across instances. A row per
  // held key, deleted on release; a dead holder's row is taken over once `until` (database clock) passed.
  [
    3,
    (s) => `
    CREATE TABLE ${s}.key_leases (
      key text COLLATE "C" PRIMARY KEY,
      owner text NOT NULL,
      until double precision NOT NULL
    );
    `,
  ],
  // 4: Qualtrics transactions claimed by items: the primary key lets one item count a transaction as
  // its write, whichever instance asks. A delivered item claims the id in its result; the re-send check
  // after an ambiguous failure claims the listed transaction it matched. Rows go with their item when
  // delivered items are pruned (by item_id). Items delivered before claim theirs here.
  [
    4,
    (s) => `
    CREATE TABLE ${s}.transaction_claims (
      directory_id text COLLATE "C" NOT NULL,
      transaction_id text COLLATE "C" NOT NULL,
      item_id text COLLATE "C" NOT NULL,
      claimed_at bigint NOT NULL,
      PRIMARY KEY (directory_id, transaction_id)
    );
    CREATE INDEX transaction_claims_item ON ${s}.transaction_claims (item_id);
    INSERT INTO ${s}.transaction_claims (directory_id, transaction_id, item_id, claimed_at)
    SELECT payload->>'directoryId', result->>'transactionId', id, updated_at FROM ${s}.items
    WHERE state = 'delivered' AND json_typeof(payload->'directoryId') = 'string'
      AND jsonb_typeof(result->'transactionId') = 'string'
    ORDER BY updated_at, id
    ON CONFLICT DO NOTHING;
    `,
  ],
  // 5: the Qualtrics circuit shared by a fleet (circuit.ts): one row per name, changed only by a
  // compare-and-set on `version`. Times are ms on the engines' clocks; 0 where the state has none.
  [
    5,
    (s) => `
    CREATE TABLE ${s}.circuits (
      name text PRIMARY KEY,
      version bigint NOT NULL,
      state text NOT NULL CHECK (state IN ('closed', 'open', 'probing')),
      failures integer NOT NULL,
      opened_at bigint NOT NULL,
      next_probe_at bigint NOT NULL,
      failed_probes integer NOT NULL
    );
    `,
  ],
]

/** Brings the schema to `POSTGRES_SCHEMA_VERSION`; refuses a database a newer version wrote. */
export async function migrate(client: pg.ClientBase, schema: string): Promise<void> {
  const s = `"${schema}"`
  await client.query('BEGIN')
  try {
    // One key per schema: two fleets in two schemas of one database do not wait for each other.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('qualtrics-relay migrate ' || $1))`, [schema])
    // Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE right even when the schema exists.
    const existing = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [schema])
    if (existing.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`)
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    )
    const { rows } = await client.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${s}.migrations`,
    )
    const version = rows[0]?.version ?? 0
    if (version > POSTGRES_SCHEMA_VERSION) {
      throw new StoreError(
        `The PostgreSQL schema "${schema}" has version ${version}, newer than this code supports (${POSTGRES_SCHEMA_VERSION}); upgrade qualtrics-relay`,
        { retryable: false },
      )
    }
    for (const [target, sql] of MIGRATIONS) {
      if (target <= version) continue
      await client.query(sql(s))
      await client.query(`INSERT INTO ${s}.migrations (version) VALUES ($1)`, [target])
    }
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  }
}
