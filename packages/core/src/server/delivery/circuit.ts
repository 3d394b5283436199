// The Qualtrics circuit: when calls fail across the board (5xx, timeouts, network errors), the engine
// stops sending, probes with one request at a growing interval, and resumes when Qualtrics answers.
// Items the open circuit holds back spend none of their attempts: a long outage ends in delivery, not
// in dead letters.
//
//   closed ──(failureThreshold outage failures in a row)──▶ open ──(nextProbeAt: one caller)──▶ probing
//     ▲                                                      ▲                                      │
//     └───────────────── any answer from Qualtrics ──────────┼──────────────────────────────────────┤
//                                                            └── probe failed: the interval doubles ┘
//
// Every method takes the time from its caller (the engine's clock), and every change of state is
// returned as a transition, so a circuit shared by several processes (a networked store) can hold the
// same state in one row: one process's failures open it for all, one probe at a time closes it.

import { ConfigError, RelayError, type FieldIssue } from '../../errors'
import { numberIssues, type NumberRule } from './options'

export type CircuitState = 'closed' | 'open' | 'probing'

/** What a circuit looks like at one moment (times in ms since the epoch). */
export interface CircuitSnapshot {
  state: CircuitState
  /** Outage failures in a row while closed (0 once open). */
  failures: number
  /** When it opened; absent while closed. */
  openedAt?: number
  /** open: when the next probe may go out. probing: when the probe is given up if it never reports. */
  nextProbeAt?: number
  /** Probes that failed since it opened. */
  failedProbes: number
}

/**
 * What `acquire` grants: `send` (closed), `probe` (this request is the one probe: report its outcome),
 * or `wait` (open, or another probe is out) until `until`, when asking again may grant a probe.
 */
export type CircuitPermit = { kind: 'send' } | { kind: 'probe' } | { kind: 'wait'; until: number }

/** A change of state caused by one acquire or report; the engine logs and emits each one once. */
export interface CircuitTransition {
  from: CircuitState
  to: CircuitState
  at: number
  /** When the outage began (the circuit opened). */
  openedAt: number
  /** Probes that failed in this outage so far. */
  failedProbes: number
  /** When `to` is `open`: when the next probe may go out. */
  nextProbeAt?: number
}

export interface CircuitOutcome {
  /** The snapshot after the report. */
  snapshot: CircuitSnapshot
  /** Set when this report changed the state. */
  transition?: CircuitTransition
}

/**
 * The circuit the delivery engine consults before each Qualtrics request. Async so a shared
 * implementation can keep its state in a database; the in-memory one answers at once.
 */
export interface Circuit {
  /** May a request start at `now`? A `probe` permit must be followed by a report of its outcome. */
  acquire(now: number): Promise<{ permit: CircuitPermit; transition?: CircuitTransition }>
  /** Qualtrics answered (2xx, a 4xx refusal, a 429) or the failure was not an outage: closes the circuit. */
  recordSuccess(now: number, permit: CircuitPermit): Promise<CircuitOutcome>
  /** An outage failure (5xx, timeout, network error): counts towards opening; a failed probe reopens. */
  recordFailure(now: number, permit: CircuitPermit): Promise<CircuitOutcome>
  /** The state at `now` (no change of state). */
  snapshot(now: number): Promise<CircuitSnapshot>
}

export interface CircuitOptions {
  /** Outage failures in a row (no answer in between) that open the circuit. Default 5. */
  failureThreshold?: number
  /** Wait before the first probe; doubles after each failed probe. Default 5,000 ms. */
  probeBaseMs?: number
  /** Longest wait between probes. Default 300,000 ms (5 min). */
  probeMaxMs?: number
  /** A probe that never reports (its process died) is given up after this; another may go. Default 60,000 ms. */
  probeLeaseMs?: number
}

/** A request refused because the circuit is open: nothing was sent, and no attempt is counted. */
export class CircuitOpenError extends RelayError {
  override readonly name = 'CircuitOpenError'
  /** When the next probe is due: the item is tried again then. */
  readonly retryAt: number
  constructor(snapshot: CircuitSnapshot, retryAt: number) {
    super(
      'QUALTRICS_UNAVAILABLE',
      `Not sent: Qualtrics has failed every call since ${new Date(snapshot.openedAt ?? retryAt).toISOString()} (5xx, timeouts or network errors); the next probe is at ${new Date(retryAt).toISOString()}`,
      { status: 503, retryable: true },
    )
    this.retryAt = retryAt
  }
}

/**
 * When an item held back by a circuit in this state should be due again: at the next probe while open
 * (it may be that probe), at once while a probe is out (the engine claims nothing until it closes).
 */
export function heldBackUntil(snapshot: CircuitSnapshot, now: number): number {
  return snapshot.state === 'open' ? Math.max(now, snapshot.nextProbeAt ?? now) : now
}

/** True for a failure that says Qualtrics is down or unreachable, not that it refused this request. */
export function isOutage(error: unknown): boolean {
  if (!(error instanceof RelayError)) return false
  if (error.code === 'TIMEOUT' || error.code === 'NETWORK_ERROR') return true
  // 501 Not Implemented is a refusal (not retryable); 429 has its own code and the rate limiter.
  return error.code === 'QUALTRICS_API_ERROR' && error.retryable && (error.status ?? 0) >= 500
}

/** A circuit's whole state: what the in-memory circuit holds in a variable and a shared one in a row. */
export interface CircuitRecord {
  state: CircuitState
  /** Outage failures in a row while closed. */
  failures: number
  /** When the outage began (0 while closed). */
  openedAt: number
  /** open: the next probe; probing: the end of the probe's lease (0 while closed). */
  nextProbeAt: number
  failedProbes: number
}

export const CLOSED_CIRCUIT: CircuitRecord = {
  state: 'closed',
  failures: 0,
  openedAt: 0,
  nextProbeAt: 0,
  failedProbes: 0,
}

/** One step of the rules: the record after it (the same object when nothing changed) and its transition. */
export interface CircuitStep {
  record: CircuitRecord
  transition?: CircuitTransition
}

/**
 * The circuit's rules as pure steps from one record to the next, written once for every circuit: the
 * in-memory one applies them to a variable, a shared one to its row (compare-and-set).
 */
export interface CircuitRules {
  acquire(record: CircuitRecord, now: number): CircuitStep & { permit: CircuitPermit }
  success(record: CircuitRecord, now: number): CircuitStep
  failure(record: CircuitRecord, now: number, permit: CircuitPermit): CircuitStep
}

const OPTION_RULES: Record<keyof CircuitOptions, NumberRule> = {
  failureThreshold: { min: 1, integer: true },
  probeBaseMs: { min: 1 },
  probeMaxMs: { min: 1 },
  probeLeaseMs: { min: 1 },
}

/** Lists every option outside its range (for the caller's ConfigError). */
export function circuitOptionIssues(options: Record<string, unknown>): FieldIssue[] {
  return numberIssues(options, OPTION_RULES)
}

/** The rules with these options (validated: a bad option throws a ConfigError naming it). */
export function circuitRules(options: CircuitOptions = {}): CircuitRules {
  const issues = circuitOptionIssues((options ?? {}) as Record<string, unknown>)
  if (issues.length > 0) throw new ConfigError('Invalid circuit options', issues)
  const failureThreshold = options.failureThreshold ?? 5
  const probeBaseMs = options.probeBaseMs ?? 5_000
  const probeMaxMs = Math.max(probeBaseMs, options.probeMaxMs ?? 300_000)
  const probeLeaseMs = options.probeLeaseMs ?? 60_000

  function interval(failedProbes: number): number {
    return Math.min(probeMaxMs, probeBaseMs * 2 ** Math.min(failedProbes, 40))
  }

  function move(from: CircuitState, record: CircuitRecord, at: number): Required<CircuitStep> {
    const { state: to, openedAt, failedProbes, nextProbeAt } = record
    return {
      record,
      transition: { from, to, at, openedAt, failedProbes, ...(to === 'open' ? { nextProbeAt } : {}) },
    }
  }

  return {
    acquire(record, now) {
      if (record.state === 'closed') return { record, permit: { kind: 'send' } }
      if (now < record.nextProbeAt) return { record, permit: { kind: 'wait', until: record.nextProbeAt } }
      // open and due, or a probe that never reported: this caller probes.
      const next: CircuitRecord = { ...record, state: 'probing', nextProbeAt: now + probeLeaseMs }
      if (record.state === 'probing') return { record: next, permit: { kind: 'probe' } }
      return { ...move(record.state, next, now), permit: { kind: 'probe' } }
    },

    success(record, now) {
      if (record.state === 'closed')
        return record.failures === 0 ? { record } : { record: { ...record, failures: 0 } }
      // The transition tells the outage that ended; the record forgets it.
      const { transition } = move(record.state, { ...record, state: 'closed' }, now)
      return { record: CLOSED_CIRCUIT, transition }
    },

    failure(record, now, permit) {
      if (record.state === 'closed') {
        const failures = record.failures + 1
        if (failures < failureThreshold) return { record: { ...record, failures } }
        const opened: CircuitRecord = {
          state: 'open',
          failures: 0,
          openedAt: now,
          failedProbes: 0,
          nextProbeAt: now + interval(0),
        }
        return move('closed', opened, now)
      }
      // A request sent before the circuit opened fails late: nothing changes.
      if (permit.kind !== 'probe' || record.state !== 'probing') return { record }
      const failedProbes = record.failedProbes + 1
      return move(
        'probing',
        { ...record, state: 'open', failedProbes, nextProbeAt: now + interval(failedProbes) },
        now,
      )
    },
  }
}

/** What a record looks like from outside. */
export function snapshotOf(record: CircuitRecord): CircuitSnapshot {
  const { state, failures, openedAt, nextProbeAt, failedProbes } = record
  return state === 'closed'
    ? { state, failures, failedProbes: 0 }
    : { state, failures: 0, openedAt, nextProbeAt, failedProbes }
}

/** A step as `recordSuccess` and `recordFailure` report it. */
export function outcomeOf(step: CircuitStep): CircuitOutcome {
  const snapshot = snapshotOf(step.record)
  return step.transition === undefined ? { snapshot } : { snapshot, transition: step.transition }
}

/** Creates a circuit held in this process's memory (one engine, or several engines of one process). */
export function createCircuit(options: CircuitOptions = {}): Circuit {
  const rules = circuitRules(options)
  let record = CLOSED_CIRCUIT

  function apply<S extends CircuitStep>(step: S): S {
    record = step.record
    return step
  }

  return {
    async acquire(now) {
      const { permit, transition } = apply(rules.acquire(record, now))
      return transition === undefined ? { permit } : { permit, transition }
    },
    recordSuccess: async (now) => outcomeOf(apply(rules.success(record, now))),
    recordFailure: async (now, permit) => outcomeOf(apply(rules.failure(record, now, permit))),
    snapshot: async () => snapshotOf(record),
  }
}
