// An items row as the durable stores (SQLite, PostgreSQL) read it, turned into a StoredItem. The two
// differ only in how the JSON columns arrive: SQLite hands back text, pg hands back parsed values; `J`
// is that form and `decode` turns it into the value.

import type { ItemError, ItemResult, ItemState, StoredItem } from './types'

export interface ItemRow<J> {
  id: string
  message_id: string
  mapping_id: string
  action: string
  payload: J
  source: string | null
  lookup_by: J | null
  state: string
  attempts: number
  created_at: number
  updated_at: number
  next_attempt_at: number
  lease_owner: string | null
  lease_until: number | null
  delivered_at: number | null
  last_error: J | null
  result: J | null
}

export function rowToItem<J>(row: ItemRow<J>, decode: (value: J) => unknown): StoredItem {
  const item = {
    id: row.id,
    messageId: row.message_id,
    mappingId: row.mapping_id,
    action: row.action,
    payload: decode(row.payload),
    state: row.state as ItemState,
    attempts: row.attempts,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    nextAttemptAt: row.next_attempt_at,
  } as StoredItem
  if (row.source !== null) item.source = row.source
  if (row.lookup_by !== null) item.lookupBy = decode(row.lookup_by) as NonNullable<StoredItem['lookupBy']>
  if (row.lease_owner !== null) item.leaseOwner = row.lease_owner
  if (row.lease_until !== null) item.leaseUntil = row.lease_until
  if (row.delivered_at !== null) item.deliveredAt = row.delivered_at
  if (row.last_error !== null) item.lastError = decode(row.last_error) as ItemError
  if (row.result !== null) item.result = decode(row.result) as ItemResult
  return item
}
