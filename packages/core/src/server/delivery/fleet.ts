// What a store shares with the other engines on it. A networked store (PostgreSQL) can hold, for every
// instance at once, the pieces that are otherwise per process: the brand's rate budget, the locks
// around contact creates and the Qualtrics circuit. Every engine that delivers from such a store must
// use them, or each instance spends the brand's whole limit, creates its own copy of a new contact and
// keeps sending into an outage the others have seen; this is the one place that picks them up, for the
// proxy and the node plugin alike.

import type { Circuit, CircuitOptions } from './circuit'
import type { Clock } from './clock'
import type { SharedKeyLocks } from './contacts'
import { parseDeliveryOptions, type DeliveryEngineConfig } from './options'
import type { RateBudget } from './rate-limiter'

/** The engine's rate settings, as a budget shared by a fleet takes them: the rate is the fleet's. */
export interface FleetRateBudgetOptions {
  requestsPerMinute: number
  burst: number
  recoveryMs: number
  pauseBaseMs: number
  pauseMaxMs: number
  /** For the budget's local waits only (the node plugin's never hold the process open). */
  clock?: Clock
}

/** What a store may offer a fleet; each capability is optional (the PostgreSQL store has them all). */
export interface FleetStore {
  createRateBudget?(options: FleetRateBudgetOptions): RateBudget
  createKeyLocks?(): SharedKeyLocks
  createCircuit?(options: CircuitOptions): Circuit
}

/** The engine collaborators a fleet shares, as `createDeliveryEngine` takes them (only the ones set). */
export type FleetShared = Pick<DeliveryEngineConfig, 'rateBudget' | 'contactLocks' | 'circuit'>

/**
 * The shared collaborators the config's store offers, built from the config's options (validated here,
 * as the engine will). What the config already gives is left alone, so a caller can still pass its
 * own. Spread the result into the engine's config (`Object.keys` of it names what is shared):
 *
 * ```ts
 * const config = { ...options, client, store }
 * const engine = createDeliveryEngine({ ...config, ...sharedWithFleet(config) })
 * ```
 */
export function sharedWithFleet(config: DeliveryEngineConfig): FleetShared {
  const opts = parseDeliveryOptions(config)
  const store = config.store as DeliveryEngineConfig['store'] & FleetStore
  const shared: FleetShared = {}
  if (config.rateBudget === undefined && typeof store.createRateBudget === 'function') {
    // requestsPerMinute and burst are the whole fleet's: one bucket, one brand limit.
    shared.rateBudget = store.createRateBudget({
      requestsPerMinute: opts.requestsPerMinute,
      burst: opts.burst,
      recoveryMs: opts.rateLimitRecoveryMs,
      pauseBaseMs: Math.max(1, opts.retryBaseMs),
      pauseMaxMs: Math.max(1, opts.retryMaxMs),
      ...(config.clock === undefined ? {} : { clock: config.clock }),
    })
  }
  if (config.contactLocks === undefined && typeof store.createKeyLocks === 'function')
    shared.contactLocks = store.createKeyLocks()
  if (config.circuit === undefined && typeof store.createCircuit === 'function') {
    // One instance's outage failures hold every instance back; one probe at a time across them.
    shared.circuit = store.createCircuit({
      failureThreshold: opts.circuitFailureThreshold,
      probeBaseMs: opts.circuitProbeBaseMs,
      probeMaxMs: opts.circuitProbeMaxMs,
    })
  }
  return shared
}
