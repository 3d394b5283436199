export { createMemoryStore } from './memory-store'
export { maskDatabaseUrl } from './database-url'
export { StoreError } from './errors'
export type {
  AcceptResult,
  ClaimOptions,
  ContactCacheEntry,
  DeadLetterQuery,
  DeadUpdate,
  DeliveryStore,
  ItemError,
  ItemResult,
  ItemState,
  NewItem,
  RetryUpdate,
  StateCounts,
  StoredItem,
  TransactionClaim,
} from './types'
