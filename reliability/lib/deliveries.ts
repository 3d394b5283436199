// Counting what reached the sandbox: contacts by extRef, transactions by the messageId in their data,
// workflow runs by the messageId in their payload — each with the time its request arrived.
import type { RunningSandbox } from '@qualtrics-relay/sandbox'
import type { BatchItem, Kind } from './relay'

type Snapshot = ReturnType<RunningSandbox['inspect']>

export interface Sent {
  kind: Kind
  item: BatchItem
}

export interface DeliveryCount {
  /** Items looked at. */
  items: number
  /** messageIds of items found 0 times. */
  lost: string[]
  /** messageIds of items found more than once. */
  duplicated: string[]
  /** For each duplicated item, when its first copy's request arrived (ms since the epoch). */
  firstWrittenAt: Map<string, number>
}

/** The key a delivered record of `kind` is counted by, for an item. */
export function keyOf(sent: Sent): string {
  return sent.kind === 'contact' ? String(sent.item.payload.extRef) : sent.item.messageId
}

/** Every delivered record of `kind` in the snapshot: its key and when its request arrived. */
export function delivered(snapshot: Snapshot, kind: Kind): { key: string; at: number }[] {
  const arrived = new Map(snapshot.requests.map((r) => [r.requestId, Date.parse(r.time) - r.ms]))
  const out: { key: string; at: number }[] = []
  if (kind === 'contact') {
    for (const c of snapshot.contacts)
      if (c.extRef !== undefined) out.push({ key: c.extRef, at: Date.parse(c.creationDate) })
  } else if (kind === 'purchase') {
    for (const t of snapshot.transactions) {
      const id = t.data.messageId
      if (typeof id === 'string') out.push({ key: id, at: arrived.get(t.requestId) ?? Number.NaN })
    }
  } else {
    for (const r of snapshot.workflowRuns) {
      const id = (r.payload as { messageId?: unknown } | null)?.messageId
      if (typeof id === 'string')
        out.push({ key: id, at: arrived.get(r.requestId) ?? Date.parse(r.receivedAt) })
    }
  }
  return out
}

/** How often each sent item of `kind` reached the sandbox. */
export function countDeliveries(snapshot: Snapshot, sent: readonly Sent[], kind: Kind): DeliveryCount {
  const times = new Map<string, number[]>()
  for (const d of delivered(snapshot, kind)) times.set(d.key, [...(times.get(d.key) ?? []), d.at])
  const mine = sent.filter((s) => s.kind === kind)
  const lost: string[] = []
  const duplicated: string[] = []
  const firstWrittenAt = new Map<string, number>()
  for (const s of mine) {
    const found = times.get(keyOf(s)) ?? []
    if (found.length === 0) lost.push(s.item.messageId)
    if (found.length > 1) {
      duplicated.push(s.item.messageId)
      firstWrittenAt.set(s.item.messageId, Math.min(...found))
    }
  }
  return { items: mine.length, lost, duplicated, firstWrittenAt }
}

/** Transaction keys the sandbox saw written more than once. */
export function repeatedTransactionKeys(snapshot: Snapshot): string[] {
  return Object.entries(snapshot.transactionKeyCounts)
    .filter(([, n]) => n > 1)
    .map(([key]) => key)
}
