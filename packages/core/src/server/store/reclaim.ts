import type { ItemError, StoredItem } from './types'

/** The error a reclaimed item carries when it had none: its previous owner stopped while holding it. */
export function reclaimedError(now: number): ItemError {
  return { code: 'DELIVERY_FAILED', message: 'its previous owner stopped while holding it', at: now }
}

/**
 * Marks an item taken over from an owner whose lease ran out (its process died while holding it): a
 * write of it may have reached Qualtrics without an answer, so the engine checks Qualtrics before
 * writing it again, as after any ambiguous failure. Both stores call this from `claim`.
 */
export function markReclaimed(item: StoredItem, now: number): StoredItem {
  const previous = item.lastError ?? reclaimedError(now)
  item.lastError = { ...previous, possiblyWritten: true }
  return item
}
