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
} from './types'
import { StoreError } from './errors'

const pairKey = (messageId: string, mappingId: string) => `${messageId}\u0000${mappingId}`

/** Creates a DeliveryStore that keeps everything in this process's memory. */
export function createMemoryStore(): DeliveryStore {
  const items = new Map<string, StoredItem>()
  const byPair = new Map<string, string>()
  const byMessage = new Map<string, string[]>()
  /** Ids of items that are pending or leased: the only ones `claim` looks at. */
  const active = new Set<string>()
  const contacts = new Map<string, { contactId: string; expiresAt: number }>()
  let closed = false

  const copy = (item: StoredItem): StoredItem => ({ ...item })

  function check(): void {
    if (closed) throw storeClosed()
  }

  function leasedBy(id: string, owner: string): StoredItem | undefined {
    const item = items.get(id)
    return item !== undefined && item.state === 'leased' && item.leaseOwner === owner ? item : undefined
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
        throw new StoreError(
          `Could not store the items: ${cause instanceof Error ? cause.message : String(cause)}`,
          {
            cause,
            retryable: false,
          },
        )
      }
      const results: AcceptResult[] = []
      for (const item of copies) {
        const pair = pairKey(item.messageId, item.mappingId)
        const base = { id: item.id, messageId: item.messageId, mappingId: item.mappingId }
        if (byPair.has(pair) || items.has(item.id)) {
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
        byPair.set(pair, item.id)
        const ids = byMessage.get(item.messageId)
        if (ids === undefined) byMessage.set(item.messageId, [item.id])
        else ids.push(item.id)
        active.add(item.id)
        results.push({ ...base, status: 'accepted' })
      }
      return results
    },

    async claim({ now, limit, leaseMs, owner }: ClaimOptions): Promise<StoredItem[]> {
      check()
      if (limit <= 0) return []
      const due: StoredItem[] = []
      for (const id of active) {
        const item = items.get(id)
        if (item === undefined) continue
        if (item.state === 'pending' ? item.nextAttemptAt <= now : (item.leaseUntil ?? 0) <= now)
          due.push(item)
      }
      due.sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : 1))
      return due.slice(0, limit).map((item) => {
        item.state = 'leased'
        item.leaseOwner = owner
        item.leaseUntil = now + leaseMs
        item.updatedAt = now
        return copy(item)
      })
    },

    async markDelivered(id: string, owner: string, now: number, result?: ItemResult): Promise<boolean> {
      check()
      const item = leasedBy(id, owner)
      if (item === undefined) return false
      settle(item, now)
      item.state = 'delivered'
      item.deliveredAt = now
      if (result !== undefined) item.result = { ...result }
      active.delete(id)
      return true
    },

    async scheduleRetry(id: string, owner: string, update: RetryUpdate): Promise<boolean> {
      check()
      const item = leasedBy(id, owner)
      if (item === undefined) return false
      settle(item, update.now)
      item.state = 'pending'
      item.nextAttemptAt = update.nextAttemptAt
      item.attempts = update.attempts
      item.lastError = { ...update.error }
      return true
    },

    async markDead(id: string, owner: string, update: DeadUpdate): Promise<boolean> {
      check()
      const item = leasedBy(id, owner)
      if (item === undefined) return false
      settle(item, update.now)
      item.state = 'dead'
      item.attempts = update.attempts
      item.lastError = { ...update.error }
      active.delete(id)
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
        item.state = 'pending'
        item.nextAttemptAt = now
        released++
      }
      return released
    },

    async getByMessageId(messageId: string): Promise<StoredItem[]> {
      check()
      return (byMessage.get(messageId) ?? []).flatMap((id) => {
        const item = items.get(id)
        return item === undefined ? [] : [copy(item)]
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
        item.state = 'pending'
        item.attempts = 0
        item.createdAt = now
        item.updatedAt = now
        item.nextAttemptAt = now
        active.add(id)
        replayed++
      }
      return replayed
    },

    async nextDueAt(): Promise<number | undefined> {
      check()
      let next: number | undefined
      for (const id of active) {
        const item = items.get(id)
        if (item === undefined) continue
        const at = item.state === 'pending' ? item.nextAttemptAt : (item.leaseUntil ?? 0)
        if (next === undefined || at < next) next = at
      }
      return next
    },

    async counts(): Promise<StateCounts> {
      check()
      const counts: StateCounts = { pending: 0, leased: 0, delivered: 0, dead: 0 }
      for (const item of items.values()) counts[item.state]++
      return counts
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
        byPair.delete(pairKey(item.messageId, item.mappingId))
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

function storeClosed(): StoreError {
  return new StoreError('The delivery store is closed', { retryable: false })
}
