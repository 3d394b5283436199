// Shared helpers of the delivery tests.

import type { DeliveryEngine } from '../../src/server/delivery/engine'
import type { VirtualClock } from '../../src/server/delivery/clock'
import type { DeliveryStore } from '../../src/server/store/types'
import type { DeliveryEventName, DeliveryEvents } from '../../src/server/delivery/events'

/**
 * Flushes, then jumps the virtual clock to the next retry (or, while the circuit is open, to its next
 * probe) and flushes again, until nothing is pending: every retry, rate-limit pause and probe happens,
 * in virtual time.
 */
export async function settle(
  engine: DeliveryEngine,
  store: DeliveryStore,
  clock: VirtualClock,
  maxRounds = 200,
): Promise<void> {
  for (let round = 0; round < maxRounds; round++) {
    await engine.flush()
    const next = await store.nextDueAt()
    if (next === undefined) return
    const circuit = await engine.circuitState()
    clock.advanceTo(Math.max(next, circuit.state === 'open' ? (circuit.nextProbeAt ?? next) : next))
  }
  throw new Error(`still pending after ${maxRounds} rounds`)
}

/** Records every event of the given kinds. */
export function record<E extends DeliveryEventName>(
  engine: DeliveryEngine,
  ...names: E[]
): { [K in E]: DeliveryEvents[K][] } {
  const out = {} as { [K in E]: DeliveryEvents[K][] }
  for (const name of names) {
    const list: DeliveryEvents[E][] = []
    out[name] = list as never
    engine.on(name, (payload) => list.push(payload))
  }
  return out
}
