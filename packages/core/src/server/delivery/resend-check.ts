// The re-send check: after a transaction write that failed ambiguously (timeout, 5xx), was it written?
// The contact's transactions are listed (one listing shared by the items that check one contact at the
// same time) and matched to the item (already-written.ts). A match counts only once the store grants
// this item the claim on it: two identical transactions (same contact, instant and data) both match one
// written transaction, and without the claim both items would settle on it and one would be lost. The
// claim lives in the store, so it holds across instances on one database and across restarts.

import type { StoredItem, DeliveryStore } from '../store/types'
import { isSameTransaction } from './already-written'
import type { Endpoint } from './events'
import type { ContactTransactionLister, DeliveryLogger, ListedTransaction } from './options'

export interface ResendCheckOptions {
  client: Partial<ContactTransactionLister>
  store: Pick<DeliveryStore, 'claimListedTransaction'>
  now: () => number
  logger: DeliveryLogger
  /** The engine's gate for a Qualtrics call (circuit, concurrency, rate budget). */
  call: <T>(endpoint: Endpoint, items: number, fn: () => Promise<T>) => Promise<T>
}

export type TransactionItem = StoredItem & { action: 'upsertContactTransaction' }

/**
 * Returns the check: the id of the listed transaction this item wrote and now holds the claim on;
 * undefined when none is found (or every match is another item's), or when the client cannot list.
 */
export function createResendCheck({ client, store, now, logger, call }: ResendCheckOptions) {
  const listings = new Map<string, Promise<ListedTransaction[]>>()
  let warnedNoLister = false

  function list(directoryId: string, contactId: string): Promise<ListedTransaction[]> | undefined {
    const lister = client.listContactTransactions
    if (lister === undefined) {
      if (!warnedNoLister) {
        warnedNoLister = true
        logger.warn(
          {},
          'the client cannot list transactions; re-sending after an ambiguous failure relies on Qualtrics deduplicating transaction keys',
        )
      }
      return undefined
    }
    const key = `${directoryId}\u001f${contactId}`
    const shared = listings.get(key)
    if (shared !== undefined) return shared
    const listing = call('listContactTransactions', 1, () => lister.call(client, directoryId, contactId))
    listings.set(key, listing)
    const drop = () => {
      if (listings.get(key) === listing) listings.delete(key)
    }
    listing.then(drop, drop)
    return listing
  }

  return async function findWritten(item: TransactionItem, contactId: string): Promise<string | undefined> {
    const p = item.payload
    const listing = list(p.directoryId, contactId)
    if (listing === undefined) return undefined
    const sent = {
      key: item.id,
      transaction: {
        mailingListId: p.mailingListId,
        transactionDate: p.transactionDate,
        data: p.transactionData,
      },
    }
    for (const listed of await listing) {
      if (!isSameTransaction(listed, sent)) continue
      const claim = { directoryId: p.directoryId, transactionId: listed.id, itemId: item.id, now: now() }
      if (await store.claimListedTransaction(claim)) return listed.id
    }
    return undefined
  }
}
