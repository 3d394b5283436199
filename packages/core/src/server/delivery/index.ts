export {
  createDeliveryEngine,
  type DeliveryEngine,
  type EnqueueResult,
  type ItemStatus,
  type StopOptions,
} from './engine'
export {
  parseDeliveryOptions,
  noopLogger,
  type DeliveryEngineConfig,
  type DeliveryEngineOptions,
  type DeliveryLogger,
  type ContactTransactionLister,
  type ListedTransaction,
} from './options'
export {
  createCircuit,
  isOutage,
  CircuitOpenError,
  type Circuit,
  type CircuitOptions,
  type CircuitOutcome,
  type CircuitPermit,
  type CircuitSnapshot,
  type CircuitState,
  type CircuitTransition,
} from './circuit'
export type { SharedKeyLocks } from './contacts'
export { systemClock, createVirtualClock, type Clock, type VirtualClock } from './clock'
export {
  createRateLimiter,
  LimiterAbortedError,
  type RateBudget,
  type RateBudgetSnapshot,
  type RateLimiterOptions,
} from './rate-limiter'
export {
  deriveItemId,
  isWellFormed,
  contactCacheKey,
  normaliseIdentifier,
  type IdentifierKind,
  type ItemIdentity,
} from './keys'
export type { DeliveryEvents, DeliveryEventName, DeliveryListener, Endpoint, ItemRef } from './events'
export { isAlreadyWritten, isSameTransaction, transactionInstant } from './already-written'
export { soleMergeIdentifier, type CreateWithoutSearch } from './create-without-search'
export { sharedWithFleet, type FleetRateBudgetOptions, type FleetShared, type FleetStore } from './fleet'
