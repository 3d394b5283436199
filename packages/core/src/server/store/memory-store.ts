// The in-memory DeliveryStore: for tests, serverless functions that flush before they return, and the
// node plugin when losing queued events on a crash is acceptable. Nothing survives the process.

import type {
  AcceptResult,
  ClaimOptions,
  ContactCacheEntry,
  DeadLetterQuery,
  DeadUpdate,
  DeliveryStore,
  ItemResult,
  NewItem,
  RetryUpdate,
  StateCounts,
  StoredItem,
  TransactionClaim,
} from './types'
import { messageOf, StoreError } from './errors'
import { markReclaimed } from './reclaim'
import { deliveredTransaction } from './transaction-claims'

/** Creates a DeliveryStore that keeps everything in this process's memory. */
export function createMemoryStore(): DeliveryStore {
  const items = new Map<string, StoredItem>()
  const byMessage = new Map<string, string[]>()
  /** When each pending or leased item is due (pending: next attempt; leased: lease end). */
  const schedule = createSchedule()
  const contacts = new Map<string, { contactId: string; expiresAt: number }>()
  /** Transactions claimed by items: `directoryId \u001f transactionId` → item id, and back. */
  const transactionClaims = new Map<string, string>()
  const claimsOf = new Map<string, string[]>()
  const stateCounts: StateCounts = { pending: 0, leased: 0, delivered: 0, dead: 0 }
  let closed = false

  function setState(item: StoredItem, state: StoredItem['state']): void {
    stateCounts[item.state]--
    stateCounts[state]++
    item.state = state
  }

  const copy = (item: StoredItem): StoredItem => ({ ...item })

  function check(): void {
    if (closed) throw storeClosed()
  }

  function leasedBy(id: string, owner: string): StoredItem | undefined {
    const item = items.get(id)
    return item !== undefined && item.state === 'leased' && item.leaseOwner === owner ? item : undefined
  }

  /** Claims the transaction for the item unless another holds it; true when the item holds it. */
  function claimTransaction(directoryId: string, transactionId: string, itemId: string): boolean {
    const key = `${directoryId}\u001f${transactionId}`
    const holder = transactionClaims.get(key)
    if (holder !== undefined) return holder === itemId
    transactionClaims.set(key, itemId)
    claimsOf.set(itemId, [...(claimsOf.get(itemId) ?? []), key])
    return true
  }

  function settle(item: StoredItem, now: number): void {
    delete item.leaseOwner
    delete item.leaseUntil
    item.updatedAt = now
  }

  return {
    async accept(newItems: readonly NewItem[], now: number): Promise<AcceptResult[]> {
      check()
      // Copy everything first (as JSON, like a durable store would): an item that cannot be stored
      // fails the whole call before any is kept.
      let copies: NewItem[]
      try {
        copies = newItems.map((item) => JSON.parse(JSON.stringify(item)) as NewItem)
      } catch (cause) {
        throw new StoreError(`Could not store the items: ${messageOf(cause)}`, {
          cause,
          retryable: false,
        })
      }
      const results: AcceptResult[] = []
      for (const item of copies) {
        const base = { id: item.id, messageId: item.messageId, mappingId: item.mappingId }
        // The id includes the source: two sources' items with one messageId are two items.
        if (items.has(item.id)) {
          results.push({ ...base, status: 'duplicate' })
          continue
        }
        const stored = {
          ...item,
          state: 'pending',
          attempts: 0,
          createdAt: now,
          updatedAt: now,
          nextAttemptAt: now,
        } as StoredItem
        items.set(item.id, stored)
        stateCounts.pending++
        const ids = byMessage.get(item.messageId)
        if (ids === undefined) byMessage.set(item.messageId, [item.id])
        else ids.push(item.id)
        schedule.set(item.id, now)
        results.push({ ...base, status: 'accepted' })
      }
      return results
    },

    async claim({ now, limit, leaseMs, owner }: ClaimOptions): Promise<StoredItem[]> {
      check()
      if (limit <= 0) return []
      const claimed: StoredItem[] = []
      while (claimed.length < limit) {
        const id = schedule.popDue(now)
        if (id === undefined) break
        const item = items.get(id)
        if (item === undefined) continue
        const reclaimed = item.state === 'leased'
        setState(item, 'leased')
        item.leaseOwner = owner
        item.leaseUntil = now + leaseMs
        item.updatedAt = now
        schedule.set(id, item.leaseUntil)
        claimed.push(reclaimed ? markReclaimed(copy(item), now) : copy(item))
      }
      return claimed
    },

    async markDelivered(id: string, owner: string, now: number, result?: ItemResult): Promise<boolean> {
      check()
      const item = leasedBy(id, owner)
      if (item === undefined) return false
      settle(item, now)
      setState(item, 'delivered')
      item.deliveredAt = now
      if (result !== undefined) item.result = { ...result }
      const claim = deliveredTransaction(item)
      if (claim !== undefined) claimTransaction(claim.directoryId, claim.transactionId, id)
      schedule.delete(id)
      return true
    },

    async scheduleRetry(id: string, owner: string, update: RetryUpdate): Promise<boolean> {
      check()
      const item = leasedBy(id, owner)
      if (item === undefined) return false
      settle(item, update.now)
      setState(item, 'pending')
      item.nextAttemptAt = update.nextAttemptAt
      item.attempts = update.attempts
      item.lastError = { ...update.error }
      schedule.set(id, update.nextAttemptAt)
      return true
    },

    async markDead(id: string, owner: string, update: DeadUpdate): Promise<boolean> {
      check()
      const item = leasedBy(id, owner)
      if (item === undefined) return false
      settle(item, update.now)
      setState(item, 'dead')
      item.attempts = update.attempts
      item.lastError = { ...update.error }
      schedule.delete(id)
      return true
    },

    async renewLeases(
      ids: readonly string[],
      owner: string,
      leaseUntil: number,
      now: number,
    ): Promise<number> {
      check()
      let renewed = 0
      for (const id of ids) {
        const item = leasedBy(id, owner)
        if (item === undefined) continue
        item.leaseUntil = leaseUntil
        item.updatedAt = now
        schedule.set(id, leaseUntil)
        renewed++
      }
      return renewed
    },

    async release(ids: readonly string[], owner: string, now: number): Promise<number> {
      check()
      let released = 0
      for (const id of ids) {
        const item = leasedBy(id, owner)
        if (item === undefined) continue
        settle(item, now)
        setState(item, 'pending')
        item.nextAttemptAt = now
        schedule.set(id, now)
        released++
      }
      return released
    },

    async getByMessageId(messageId: string, source?: string): Promise<StoredItem[]> {
      check()
      return (byMessage.get(messageId) ?? []).flatMap((id) => {
        const item = items.get(id)
        return item === undefined || (source !== undefined && item.source !== source) ? [] : [copy(item)]
      })
    },

    async listDeadLetters(query: DeadLetterQuery = {}): Promise<StoredItem[]> {
      check()
      const limit = query.limit ?? 100
      const after = query.after
      const dead = [...items.values()].filter(
        (i) => i.state === 'dead' && (after === undefined || i.id > after),
      )
      dead.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      return dead.slice(0, limit).map(copy)
    },

    async replayDeadLetters(ids: readonly string[] | undefined, now: number): Promise<number> {
      check()
      const targets = ids === undefined ? [...items.keys()] : ids
      let replayed = 0
      for (const id of targets) {
        const item = items.get(id)
        if (item === undefined || item.state !== 'dead') continue
        setState(item, 'pending')
        item.attempts = 0
        item.createdAt = now
        item.updatedAt = now
        item.nextAttemptAt = now
        schedule.set(id, now)
        replayed++
      }
      return replayed
    },

    async nextDueAt(): Promise<number | undefined> {
      check()
      return schedule.next()
    },

    async oldestPendingAt(): Promise<number | undefined> {
      check()
      let oldest: number | undefined
      for (const item of items.values()) {
        if (item.state !== 'pending' && item.state !== 'leased') continue
        if (oldest === undefined || item.createdAt < oldest) oldest = item.createdAt
      }
      return oldest
    },

    async counts(): Promise<StateCounts> {
      check()
      return { ...stateCounts }
    },

    async claimListedTransaction({ directoryId, transactionId, itemId }: TransactionClaim): Promise<boolean> {
      check()
      return claimTransaction(directoryId, transactionId, itemId)
    },

    async getContact(key: string, now: number): Promise<string | undefined> {
      check()
      const entry = contacts.get(key)
      if (entry === undefined) return undefined
      if (entry.expiresAt <= now) {
        contacts.delete(key)
        return undefined
      }
      return entry.contactId
    },

    async putContacts(entries: readonly ContactCacheEntry[]): Promise<void> {
      check()
      for (const e of entries) contacts.set(e.key, { contactId: e.contactId, expiresAt: e.expiresAt })
    },

    async deleteContacts(keys: readonly string[]): Promise<void> {
      check()
      for (const key of keys) contacts.delete(key)
    },

    async prune({ deliveredBefore, now }): Promise<{ items: number; contacts: number }> {
      check()
      let prunedItems = 0
      for (const [id, item] of items) {
        if (item.state !== 'delivered' || item.updatedAt >= deliveredBefore) continue
        items.delete(id)
        stateCounts.delivered--
        for (const key of claimsOf.get(id) ?? []) transactionClaims.delete(key)
        claimsOf.delete(id)
        const ids = byMessage.get(item.messageId)?.filter((x) => x !== id) ?? []
        if (ids.length === 0) byMessage.delete(item.messageId)
        else byMessage.set(item.messageId, ids)
        prunedItems++
      }
      let prunedContacts = 0
      for (const [key, entry] of contacts) {
        if (entry.expiresAt > now) continue
        contacts.delete(key)
        prunedContacts++
      }
      return { items: prunedItems, contacts: prunedContacts }
    },

    async close(): Promise<void> {
      closed = true
    },
  }
}

interface Entry {
  at: number
  id: string
  version: number
}

const before = (a: Entry, b: Entry) => a.at < b.at || (a.at === b.at && a.id < b.id)

/**
 * Due times by item: a binary min-heap ordered by (time, id) with lazy deletion. Setting an item gives
 * it a new version, deleting it forgets its version; heap entries of any other version are dropped
 * when they reach the top.
 * Claiming k of n items costs O(k log n), not a scan of the queue.
 */
function createSchedule() {
  const heap: Entry[] = []
  const versions = new Map<string, number>()
  // One sequence for every item, never reset: a per-item count would start again at 1 after a claim
  // deleted it, bringing stale heap entries of that item back to life (claimed twice in one claim).
  let sequence = 0

  function swap(i: number, j: number): void {
    const t = heap[i]!
    heap[i] = heap[j]!
    heap[j] = t
  }
  function up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i]!, heap[parent]!)) return
      swap(i, parent)
      i = parent
    }
  }
  function down(i: number): void {
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let min = i
      if (l < heap.length && before(heap[l]!, heap[min]!)) min = l
      if (r < heap.length && before(heap[r]!, heap[min]!)) min = r
      if (min === i) return
      swap(i, min)
      i = min
    }
  }
  function pop(): Entry | undefined {
    const top = heap[0]
    const last = heap.pop()
    if (top !== undefined && last !== undefined && heap.length > 0) {
      heap[0] = last
      down(0)
    }
    return top
  }
  /** Drops stale entries from the top; returns the live top. */
  function live(): Entry | undefined {
    for (;;) {
      const top = heap[0]
      if (top === undefined || versions.get(top.id) === top.version) return top
      pop()
    }
  }

  return {
    set(id: string, at: number): void {
      const version = ++sequence
      versions.set(id, version)
      heap.push({ at, id, version })
      up(heap.length - 1)
    },
    delete(id: string): void {
      versions.delete(id)
    },
    /** Removes and returns the earliest item due at `now`, if any. */
    popDue(now: number): string | undefined {
      const top = live()
      if (top === undefined || top.at > now) return undefined
      pop()
      versions.delete(top.id)
      return top.id
    },
    next(): number | undefined {
      return live()?.at
    },
  }
}

function storeClosed(): StoreError {
  return new StoreError('The delivery store is closed', { retryable: false })
}
