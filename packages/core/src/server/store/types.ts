// The storage contract of the delivery engine. Deliberately narrow: every operation is one atomic step
// a networked store (several proxy instances on one database) could implement as one round trip.
// Times are milliseconds since the epoch and always come from the caller (the engine's clock), never
// from the store, so tests can drive time.

import type { DeliveryItem } from '../../actions/payloads'
import type { RelayErrorCode } from '../../errors'

/**
 * Where an item is in its life:
 *
 * | state       | meaning                                                                             |
 * |-------------|-------------------------------------------------------------------------------------|
 * | `pending`   | waiting for its first attempt or for a retry at `nextAttemptAt`                     |
 * | `leased`    | claimed by an engine until `leaseUntil`; due again after that if the engine is gone |
 * | `delivered` | Qualtrics accepted it                                                               |
 * | `dead`      | given up (a non-retryable error, too many attempts or too old); can be replayed     |
 */
export type ItemState = 'pending' | 'leased' | 'delivered' | 'dead'

/** The last failure of an item, as kept in the store and shown by `status()`. */
export interface ItemError {
  code: RelayErrorCode | string
  message: string
  /** HTTP status when the failure was an answer from Qualtrics. */
  status?: number
  /** Milliseconds since the epoch. */
  at: number
  /** A write of this item may have been applied without an answer (timeout, 5xx): the engine checks
   * Qualtrics before writing it again. Kept across later failures until the item settles. */
  possiblyWritten?: boolean
}

/** What a delivered item produced in Qualtrics. */
export interface ItemResult {
  contactId?: string
  transactionId?: string
  /** The transaction key sent to Qualtrics (the item's id). */
  transactionKey?: string
  /** HTTP status of the workflow trigger. */
  status?: number
}

/** An item as stored: the accepted `DeliveryItem` plus its delivery bookkeeping. */
export type StoredItem = DeliveryItem & {
  /** Stable id derived from `(source, messageId, mappingId)`; see `deriveItemId`. Items stored by schema 2
   * or before keep the id they had (derived without the source). */
  id: string
  state: ItemState
  /** Attempts that counted towards the engine's `maxAttempts`. */
  attempts: number
  /** When the item was first accepted. */
  createdAt: number
  updatedAt: number
  /** When the item is due (pending) or was due when it was claimed (leased). */
  nextAttemptAt: number
  leaseOwner?: string
  leaseUntil?: number
  deliveredAt?: number
  lastError?: ItemError
  result?: ItemResult
}

/** What an item looks like when it is handed to the store. */
export type NewItem = DeliveryItem & { id: string }

export interface AcceptResult {
  id: string
  messageId: string
  mappingId: string
  /** `accepted`: stored now. `duplicate`: an item with the same id was already stored (then `id` is that
   * item's id, which differs from the derived one when it is a legacy item; see `accept`). */
  status: 'accepted' | 'duplicate'
}

export interface ClaimOptions {
  now: number
  /** Most items to claim. */
  limit: number
  /** The lease ends at `now + leaseMs`; after that the item is due again for anyone. */
  leaseMs: number
  /** Who holds the lease; only that owner can settle the item while the lease holds. */
  owner: string
}

export interface RetryUpdate {
  now: number
  nextAttemptAt: number
  /** The new attempt count (the engine decides whether this failure counted). */
  attempts: number
  error: ItemError
}

export interface DeadUpdate {
  now: number
  /** The final attempt count. */
  attempts: number
  error: ItemError
}

export interface DeadLetterQuery {
  /** Default 100. */
  limit?: number
  /** Return items whose id sorts after this one (for paging). */
  after?: string
}

/** Queue depth by state. */
export type StateCounts = Record<ItemState, number>

/** One contact-id cache entry. The key is built by `contactCacheKey` (directory + kind + normalised value). */
export interface ContactCacheEntry {
  key: string
  contactId: string
  expiresAt: number
}

/** A transaction Qualtrics listed for a contact, claimed as the write of one item (see
 * `DeliveryStore.claimListedTransaction`). */
export interface TransactionClaim {
  directoryId: string
  /** The listed transaction's id (`CTR_…`). */
  transactionId: string
  /** The item that counts the transaction as its own write. */
  itemId: string
  /** When the claim is made (kept for diagnosis). */
  now: number
}

export interface DeliveryStore {
  /**
   * Stores items atomically (all or none), deduplicated by id, and says per item whether it was new.
   * Items are `pending` and due at `now`. Resolves only once the items are durable.
   *
   * A durable store that holds items from before ids included the source (schema 2 and before: ids
   * derived from `(messageId, mappingId)` only) also counts as a duplicate an item whose `(messageId,
   * mappingId, source)` equals such a legacy item's, so an old event re-sent after an upgrade is not
   * written to Qualtrics a second time under a new key.
   */
  accept(items: readonly NewItem[], now: number): Promise<AcceptResult[]>
  /**
   * Leases up to `limit` due items: `pending` with `nextAttemptAt <= now`, and `leased` whose lease has
   * expired (their engine crashed or stalled). Oldest due first.
   */
  claim(options: ClaimOptions): Promise<StoredItem[]>
  /**
   * `leased` by `owner` → `delivered`. Returns false (and changes nothing) when the lease was lost. When
   * `result.transactionId` is set (and the payload names its `directoryId`), the item claims that
   * transaction in the same step, as `claimListedTransaction` would (kept by whoever held it first): a
   * transaction written without a failure is its item's, so no identical item's re-send check can count
   * it as its own.
   */
  markDelivered(id: string, owner: string, now: number, result?: ItemResult): Promise<boolean>
  /** `leased` by `owner` → `pending`, due at `nextAttemptAt`. Returns false when the lease was lost. */
  scheduleRetry(id: string, owner: string, update: RetryUpdate): Promise<boolean>
  /** `leased` by `owner` → `dead`. Returns false when the lease was lost. */
  markDead(id: string, owner: string, update: DeadUpdate): Promise<boolean>
  /** Extends the leases `owner` still holds to `leaseUntil`; returns how many it still held. */
  renewLeases(ids: readonly string[], owner: string, leaseUntil: number, now: number): Promise<number>
  /** `leased` by `owner` → `pending`, due at `now`, no attempt counted (used on shutdown). */
  release(ids: readonly string[], owner: string, now: number): Promise<number>
  /** Every item of one event (one per mapping), oldest first; with `source`, only that source's items
   * (items stored without a source are then never shown). */
  getByMessageId(messageId: string, source?: string): Promise<StoredItem[]>
  /** Dead letters ordered by id. */
  listDeadLetters(query?: DeadLetterQuery): Promise<StoredItem[]>
  /** `dead` → `pending` due at `now` with attempts reset to 0 and `createdAt` reset to `now`; all when
   * `ids` is omitted. Returns the number replayed. */
  replayDeadLetters(ids: readonly string[] | undefined, now: number): Promise<number>
  /** The earliest time something becomes due (a pending item or an expiring lease), if any. */
  nextDueAt(): Promise<number | undefined>
  /** When the oldest item still to be delivered (`pending` or `leased`) was accepted (or replayed), if
   * any: how far behind delivery is (a metric, read on each scrape). */
  oldestPendingAt(): Promise<number | undefined>
  counts(): Promise<StateCounts>
  /**
   * After an ambiguous failure, an item that found its transaction among the contact's listed ones claims
   * it before it settles as delivered: one listed transaction is one item's write, whichever instance or
   * process asks. True when `itemId` holds the claim (claimed now, or by this item before: a retry after
   * a lost lease or a crash finds its own claim); false when another item holds it, and the engine tries
   * the next matching transaction. One atomic step. A claim lives as long as its item: `prune` drops it
   * with the delivered item. (Delivered items claim their transactions too: see `markDelivered`.)
   */
  claimListedTransaction(claim: TransactionClaim): Promise<boolean>
  /** The cached contact id for `key`, unless expired at `now`. */
  getContact(key: string, now: number): Promise<string | undefined>
  putContacts(entries: readonly ContactCacheEntry[]): Promise<void>
  deleteContacts(keys: readonly string[]): Promise<void>
  /** Deletes delivered items last updated before `deliveredBefore` (with their transaction claims) and
   * contact entries expired at `now`. */
  prune(options: { deliveredBefore: number; now: number }): Promise<{ items: number; contacts: number }>
  close(): Promise<void>
}
