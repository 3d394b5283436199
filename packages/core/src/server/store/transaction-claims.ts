// Which transaction a delivered item claims (see `DeliveryStore.markDelivered`): the transaction id its
// result reports, in the directory its payload names. The SQLite and PostgreSQL stores say the same in
// SQL (`json_extract` / `->>` on the same two fields).

import type { StoredItem } from './types'

export function deliveredTransaction(
  item: StoredItem,
): { directoryId: string; transactionId: string } | undefined {
  const transactionId = item.result?.transactionId
  const directoryId = (item.payload as { directoryId?: unknown }).directoryId
  if (transactionId === undefined || typeof directoryId !== 'string') return undefined
  return { directoryId, transactionId }
}
