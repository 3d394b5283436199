// The gate every Qualtrics call of the engine goes through, in this order: the circuit (open: refused
// at once, no slot or token spent) → the concurrency cap → the rate budget (paused and slowed on 429)
// → the circuit again (closed: send; open: one probe) → the call. It reports each call's outcome to
// the circuit and as `request` / `rateLimited` / `circuit` events, and remembers which failures the
// circuit holds back, so settling them costs the item no attempt.

import { RelayError } from '../../errors'
import {
  CircuitOpenError,
  heldBackUntil,
  isOutage,
  type Circuit,
  type CircuitPermit,
  type CircuitTransition,
} from './circuit'
import type { Clock } from './clock'
import type { CallQualtrics } from './contacts'
import type { Emitter, Endpoint } from './events'
import type { DeliveryLogger } from './options'
import type { RateBudget, Semaphore } from './rate-limiter'

export interface QualtricsGateOptions {
  clock: Clock
  logger: DeliveryLogger
  emitter: Emitter
  limiter: RateBudget
  slots: Semaphore
  circuit: Circuit
  /** The engine's stop signal as it is now (renewed on each start). */
  signal: () => AbortSignal
  /** The circuit closed: held-back work is due. */
  onClosed: () => void
  /** A call is about to be sent (the engine renews its leases, at most every third of a lease). */
  onSend: () => void
}

export interface QualtricsGate {
  call: CallQualtrics
  /** When a failure the circuit holds back is due again; undefined for any other failure. */
  heldUntil(error: unknown): number | undefined
}

export function isRateLimited(error: unknown): boolean {
  return error instanceof RelayError && error.code === 'QUALTRICS_RATE_LIMITED'
}

export function retryAfterOf(error: unknown): number | undefined {
  const value = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined
}

export function createQualtricsGate(options: QualtricsGateOptions): QualtricsGate {
  const { clock, logger, emitter, limiter, slots, circuit, signal: currentSignal } = options
  /** Failures that opened the circuit or came while it was open → when the item is due again. They
   * cost the item no attempt: an outage ends in delivery, not in dead letters. */
  const heldBack = new WeakMap<object, number>()

  /** One line per open and close (and a debug line per probe), and the `circuit` event. */
  function circuitMoved(t: CircuitTransition | undefined): void {
    if (t === undefined) return
    const outageMs = t.to === 'closed' ? t.at - t.openedAt : undefined
    emitter.emit('circuit', { ...t, ...(outageMs === undefined ? {} : { outageMs }) })
    const fields = { from: t.from, to: t.to, failedProbes: t.failedProbes }
    if (t.to === 'closed') {
      logger.info({ ...fields, outageMs }, 'Qualtrics answers again: circuit closed, sending resumed')
      options.onClosed()
    } else if (t.from === 'closed') {
      logger.warn(
        { ...fields, nextProbeInMs: (t.nextProbeAt ?? t.at) - t.at },
        'Qualtrics calls fail across the board (5xx, timeouts, network): circuit open, sending stopped; probing with one request',
      )
    } else if (t.to === 'open') {
      logger.debug({ ...fields, nextProbeInMs: (t.nextProbeAt ?? t.at) - t.at }, 'Qualtrics probe failed')
    } else {
      logger.debug(fields, 'probing Qualtrics with one request')
    }
  }

  /** Refuses a call at once while the circuit holds everything back (no slot, no token spent). */
  async function refuseWhileOpen(): Promise<void> {
    const now = clock.now()
    const c = await circuit.snapshot(now)
    if (c.state === 'closed' || (c.state === 'open' && now >= (c.nextProbeAt ?? now))) return
    throw new CircuitOpenError(c, heldBackUntil(c, now))
  }

  /** Tells the circuit how a call ended; marks an outage failure it holds back as costing no attempt. */
  async function report(permit: CircuitPermit, error?: unknown): Promise<void> {
    const now = clock.now()
    if (error === undefined || !isOutage(error)) {
      circuitMoved((await circuit.recordSuccess(now, permit)).transition)
      return
    }
    const outcome = await circuit.recordFailure(now, permit)
    circuitMoved(outcome.transition)
    if (outcome.snapshot.state !== 'closed' && typeof error === 'object' && error !== null)
      heldBack.set(error, heldBackUntil(outcome.snapshot, now))
  }

  async function call<T>(endpoint: Endpoint, items: number, fn: () => Promise<T>): Promise<T> {
    const signal = currentSignal()
    await refuseWhileOpen()
    await slots.acquire(signal)
    try {
      await limiter.acquire(signal)
      const gate = await circuit.acquire(clock.now())
      circuitMoved(gate.transition)
      const permit = gate.permit
      if (permit.kind === 'wait')
        throw new CircuitOpenError(await circuit.snapshot(clock.now()), permit.until)
      options.onSend()
      const started = clock.now()
      try {
        const result = await fn()
        limiter.onSuccess()
        await report(permit)
        const status = (result as { status?: unknown } | undefined)?.status
        emitter.emit('request', {
          endpoint,
          ok: true,
          status: typeof status === 'number' ? status : 200,
          durationMs: clock.now() - started,
          items,
        })
        return result
      } catch (error) {
        await report(permit, error)
        const relay = error instanceof RelayError ? error : undefined
        if (isRateLimited(error)) {
          const retryAfterMs = retryAfterOf(error)
          const pauseMs = limiter.onRateLimited(retryAfterMs)
          emitter.emit('rateLimited', {
            endpoint,
            pauseMs,
            ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
          })
          logger.warn({ endpoint, retryAfterMs, pauseMs }, 'Qualtrics rate limit hit; pausing all requests')
        }
        emitter.emit('request', {
          endpoint,
          ok: false,
          ...(relay?.status === undefined ? {} : { status: relay.status }),
          errorCode: relay?.code ?? 'DELIVERY_FAILED',
          durationMs: clock.now() - started,
          items,
        })
        throw error
      }
    } finally {
      slots.release()
    }
  }

  return {
    call,
    heldUntil: (error) =>
      error instanceof CircuitOpenError
        ? error.retryAt
        : typeof error === 'object' && error !== null
          ? heldBack.get(error)
          : undefined,
  }
}
