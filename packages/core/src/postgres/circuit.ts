// One Qualtrics circuit for every engine on a database: the circuit's record in one row per name (the
// brand). The rules are the in-memory circuit's (`circuitRules`); each change of state is one
// compare-and-set statement on the row's version, so of several instances stepping from the same record
// exactly one wins: one probe at a time across the fleet, and each transition reported once, to the
// instance that caused it (one "opened" log line, one count in the metric). The others read the row
// again and step from there. No transaction stays open, least of all across a Qualtrics call.
//
// Times are the caller's (the engine's clock), unlike the rate budget's, which runs on the database's
// clock: a bucket refilled on several instances' clocks would over-spend the brand limit by their skew
// on every grant, whereas the circuit's times are probe deadlines seconds to minutes apart, which the
// engine compares with its own clock (when to look again, when an item held back is due). They must be
// in the engine's time base; a skew between instances (NTP keeps it far below a second) only moves a
// probe by that much. Exactly one probe comes from the compare-and-set, not from any clock.

import type pg from 'pg'
import { ConfigError, describeValue } from '../errors'
import {
  CLOSED_CIRCUIT,
  circuitOptionIssues,
  circuitRules,
  outcomeOf,
  snapshotOf,
  type Circuit,
  type CircuitOptions,
  type CircuitPermit,
  type CircuitRecord,
  type CircuitState,
  type CircuitStep,
} from '../server/delivery/circuit'

/**
 * Options of `PostgresStore.createCircuit`: the in-memory circuit's (`createCircuit`), give every
 * instance the same, plus:
 *
 * | option      | default       | meaning                                                               |
 * |-------------|---------------|-----------------------------------------------------------------------|
 * | `name`      | `'qualtrics'` | the circuit's row: engines with one name open and close together (one per brand) |
 * | `refreshMs` | `1000`        | a closed circuit read less than this ago is not read again before a request; another instance's opening reaches this one within it. `0`: read before every request |
 */
export interface PostgresCircuitOptions extends CircuitOptions {
  name?: string
  refreshMs?: number
}

interface CircuitRow {
  version: number
  state: CircuitState
  failures: number
  opened_at: number
  next_probe_at: number
  failed_probes: number
}

interface Known {
  record: CircuitRecord
  /** The row's version the record was read or written at; 0 while there is no row. */
  version: number
  /** When (caller's clock) it was read or written. */
  at: number
}

/** How long a request waits while the database cannot say whether a probe is free. */
const UNKNOWN_WAIT_MS = 1000

export function createPostgresCircuit(
  pool: pg.Pool,
  schema: string,
  options: PostgresCircuitOptions = {},
): Circuit {
  const o = (options ?? {}) as Record<string, unknown>
  const issues = circuitOptionIssues(o)
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name === ''))
    issues.push({ path: 'name', message: `must be a non-empty string (Received: ${describeValue(o.name)})` })
  if (o.refreshMs !== undefined && !(typeof o.refreshMs === 'number' && o.refreshMs >= 0))
    issues.push({
      path: 'refreshMs',
      message: `must be a number >= 0 (Received: ${describeValue(o.refreshMs)})`,
    })
  if (issues.length > 0) throw new ConfigError('Invalid PostgreSQL circuit options', issues)

  const rules = circuitRules(options)
  const name = options.name ?? 'qualtrics'
  const refreshMs = options.refreshMs ?? 1000
  const table = `"${schema}".circuits`
  const read = `SELECT version, state, failures, opened_at, next_probe_at, failed_probes FROM ${table} WHERE name = $1`
  // Written only over the version it was stepped from (the first write inserts the row): no row back
  // means another instance changed it first.
  const write = `
    INSERT INTO ${table} AS c (name, version, state, failures, opened_at, next_probe_at, failed_probes)
    VALUES ($1, $2::bigint + 1, $3, $4, $5, $6, $7)
    ON CONFLICT (name) DO UPDATE
    SET version = excluded.version, state = excluded.state, failures = excluded.failures,
        opened_at = excluded.opened_at, next_probe_at = excluded.next_probe_at,
        failed_probes = excluded.failed_probes
    WHERE c.version = $2
    RETURNING version`

  let known: Known = { record: CLOSED_CIRCUIT, version: 0, at: Number.NEGATIVE_INFINITY }

  async function load(now: number): Promise<Known> {
    const { rows } = await pool.query<CircuitRow>(read, [name])
    const row = rows[0]
    known = row
      ? {
          record: {
            state: row.state,
            failures: row.failures,
            openedAt: row.opened_at,
            nextProbeAt: row.next_probe_at,
            failedProbes: row.failed_probes,
          },
          version: row.version,
          at: now,
        }
      : { record: CLOSED_CIRCUIT, version: 0, at: now }
    return known
  }

  /** The record to step from: a closed one read lately, else the row as it is now. */
  function current(now: number): Promise<Known> | Known {
    const age = now - known.at
    return known.record.state === 'closed' && age >= 0 && age < refreshMs ? known : load(now)
  }

  /** Steps from the current record and writes the result over it; steps again from the row as another
   * instance left it when that one wrote first. Each round ends with a write, by this instance or one
   * of the others, so the loop ends. */
  async function change<S extends CircuitStep>(now: number, step: (record: CircuitRecord) => S): Promise<S> {
    let base = await current(now)
    for (;;) {
      const next = step(base.record)
      if (next.record === base.record) return next
      const r = next.record
      const written = await pool.query<{ version: number }>(write, [
        name,
        base.version,
        r.state,
        r.failures,
        r.openedAt,
        r.nextProbeAt,
        r.failedProbes,
      ])
      const row = written.rows[0]
      if (row !== undefined) {
        known = { record: r, version: row.version, at: now }
        return next
      }
      base = await load(now)
    }
  }

  // The database away: requests go on as the circuit last stood (sent while closed, held back while
  // not) and reports are dropped; nothing here fails a request that Qualtrics answered.
  return {
    async acquire(now) {
      try {
        const { permit, transition } = await change(now, (r) => rules.acquire(r, now))
        return transition === undefined ? { permit } : { permit, transition }
      } catch {
        const r = known.record
        const permit: CircuitPermit =
          r.state === 'closed'
            ? { kind: 'send' }
            : { kind: 'wait', until: Math.max(r.nextProbeAt, now + UNKNOWN_WAIT_MS) }
        return { permit }
      }
    },
    async recordSuccess(now) {
      try {
        return outcomeOf(await change(now, (r) => rules.success(r, now)))
      } catch {
        return { snapshot: snapshotOf(known.record) }
      }
    },
    async recordFailure(now, permit) {
      try {
        return outcomeOf(await change(now, (r) => rules.failure(r, now, permit)))
      } catch {
        return { snapshot: snapshotOf(known.record) }
      }
    },
    async snapshot(now) {
      try {
        return snapshotOf((await current(now)).record)
      } catch {
        return snapshotOf(known.record)
      }
    },
  }
}
