// The Qualtrics circuit's behaviour, as one suite run against every implementation (in memory, a row in
// PostgreSQL): on explicit times, when it opens, who probes, how the wait between probes grows, what
// closes it.

import { describe, expect, it } from 'vitest'
import {
  CircuitOpenError,
  heldBackUntil,
  type Circuit,
  type CircuitOptions,
} from '../../src/server/delivery/circuit'

const T0 = 1_700_000_000_000
const SEND = { kind: 'send' } as const
const PROBE = { kind: 'probe' } as const

async function openAt(circuit: Circuit, at: number, threshold = 3): Promise<void> {
  for (let i = 0; i < threshold; i++) await circuit.recordFailure(at, SEND)
}

export function describeCircuitContract(
  name: string,
  create: (options: CircuitOptions) => Promise<Circuit> | Circuit,
): void {
  describe(name, () => {
    it('stays closed below the threshold, and an answer in between starts the count again', async () => {
      const circuit = await create({ failureThreshold: 3 })
      await circuit.recordFailure(T0, SEND)
      await circuit.recordFailure(T0, SEND)
      await circuit.recordSuccess(T0, SEND)
      await circuit.recordFailure(T0, SEND)
      const outcome = await circuit.recordFailure(T0, SEND)
      expect(outcome).toEqual({ snapshot: { state: 'closed', failures: 2, failedProbes: 0 } })
      expect((await circuit.acquire(T0)).permit).toEqual(SEND)
    })

    it('opens on the threshold-th failure in a row and holds every request back until the first probe', async () => {
      const circuit = await create({ failureThreshold: 3, probeBaseMs: 5_000 })
      await circuit.recordFailure(T0, SEND)
      await circuit.recordFailure(T0 + 1, SEND)
      const outcome = await circuit.recordFailure(T0 + 2, SEND)
      expect(outcome.transition).toEqual({
        from: 'closed',
        to: 'open',
        at: T0 + 2,
        openedAt: T0 + 2,
        failedProbes: 0,
        nextProbeAt: T0 + 5_002,
      })
      expect((await circuit.acquire(T0 + 5_001)).permit).toEqual({ kind: 'wait', until: T0 + 5_002 })
    })

    it('lets exactly one caller probe when the probe is due; the others wait', async () => {
      const circuit = await create({ failureThreshold: 1, probeBaseMs: 1_000, probeLeaseMs: 60_000 })
      await openAt(circuit, T0, 1)
      const first = await circuit.acquire(T0 + 1_000)
      const second = await circuit.acquire(T0 + 1_000)
      expect(first).toEqual({
        permit: PROBE,
        transition: { from: 'open', to: 'probing', at: T0 + 1_000, openedAt: T0, failedProbes: 0 },
      })
      expect(second.permit).toEqual({ kind: 'wait', until: T0 + 61_000 })
      expect(await circuit.snapshot(T0 + 1_000)).toMatchObject({ state: 'probing' })
    })

    it('doubles the wait after each failed probe, up to probeMaxMs', async () => {
      const circuit = await create({ failureThreshold: 1, probeBaseMs: 5_000, probeMaxMs: 300_000 })
      await openAt(circuit, T0, 1)
      const waits: number[] = []
      let now = T0
      for (let i = 0; i < 9; i++) {
        now = (await circuit.snapshot(now)).nextProbeAt!
        expect((await circuit.acquire(now)).permit).toEqual(PROBE)
        const failed = await circuit.recordFailure(now, PROBE)
        waits.push(failed.transition!.nextProbeAt! - now)
      }
      expect(waits).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000, 300_000])
      expect(await circuit.snapshot(now)).toMatchObject({ state: 'open', openedAt: T0, failedProbes: 9 })
    })

    it('closes when the probe is answered, and starts the next outage from probeBaseMs again', async () => {
      const circuit = await create({ failureThreshold: 1, probeBaseMs: 100 })
      await openAt(circuit, T0, 1)
      await circuit.acquire(T0 + 100)
      await circuit.recordFailure(T0 + 100, PROBE)
      await circuit.acquire(T0 + 300)
      const closed = await circuit.recordSuccess(T0 + 301, PROBE)
      expect(closed).toEqual({
        snapshot: { state: 'closed', failures: 0, failedProbes: 0 },
        transition: { from: 'probing', to: 'closed', at: T0 + 301, openedAt: T0, failedProbes: 1 },
      })
      const again = await circuit.recordFailure(T0 + 1_000, SEND)
      expect(again.transition?.nextProbeAt).toBe(T0 + 1_100)
    })

    it('ignores a late failure of a request sent before it opened, and closes on a late answer', async () => {
      const circuit = await create({ failureThreshold: 1, probeBaseMs: 1_000 })
      await openAt(circuit, T0, 1)
      const late = await circuit.recordFailure(T0 + 10, SEND)
      expect(late.transition).toBeUndefined()
      expect(late.snapshot).toMatchObject({ state: 'open', nextProbeAt: T0 + 1_000, failedProbes: 0 })
      const answered = await circuit.recordSuccess(T0 + 20, SEND)
      expect(answered.transition).toMatchObject({ from: 'open', to: 'closed' })
    })

    it('gives up a probe that never reports after probeLeaseMs and lets another caller probe', async () => {
      const circuit = await create({ failureThreshold: 1, probeBaseMs: 1_000, probeLeaseMs: 30_000 })
      await openAt(circuit, T0, 1)
      expect((await circuit.acquire(T0 + 1_000)).permit).toEqual(PROBE)
      expect((await circuit.acquire(T0 + 30_999)).permit).toEqual({ kind: 'wait', until: T0 + 31_000 })
      expect(await circuit.acquire(T0 + 31_000)).toEqual({ permit: PROBE })
    })

    it('says when an item held back is due again: at the next probe while open, at once while probing', async () => {
      const circuit = await create({ failureThreshold: 1, probeBaseMs: 1_000 })
      await openAt(circuit, T0, 1)
      expect(heldBackUntil(await circuit.snapshot(T0 + 5), T0 + 5)).toBe(T0 + 1_000)
      await circuit.acquire(T0 + 1_000)
      expect(heldBackUntil(await circuit.snapshot(T0 + 1_001), T0 + 1_001)).toBe(T0 + 1_001)
    })

    it('describes a refused request with the outage start and the next probe', async () => {
      const circuit = await create({ failureThreshold: 1, probeBaseMs: 5_000 })
      await openAt(circuit, T0, 1)
      const error = new CircuitOpenError(await circuit.snapshot(T0), T0 + 5_000)
      expect(error).toMatchObject({ code: 'QUALTRICS_UNAVAILABLE', status: 503, retryable: true })
      expect(error.message).toMatchInlineSnapshot(
        `"Not sent: Qualtrics has failed every call since 2023-11-14T22:13:20.000Z (5xx, timeouts or network errors); the next probe is at 2023-11-14T22:13:25.000Z"`,
      )
    })
  })
}
