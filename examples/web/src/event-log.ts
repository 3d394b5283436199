// What the live panel shows: every event the shop sent, the items the plugin made of it, what the proxy
// answered and where delivery stands. Kept in sessionStorage, so a reload keeps the story going.
import type { ActionKey, BatchItem, ItemResult, MessageStatus } from '@qualtrics-relay/core'

/** Where an item is on its way out of the browser. */
export type SendState = 'queued' | 'sent' | 'accepted' | 'duplicate' | 'rejected'

export type DeliveryView = MessageStatus['items'][number]

export interface ItemView {
  mapping: string
  action: ActionKey
  payload: Record<string, unknown>
  send: SendState
  /** How many requests carried it (a reload can send an item twice; the proxy keeps one). */
  requests: number
  error?: string
  delivery?: DeliveryView
}

/** How to recognise, in Qualtrics, what an event produced. */
export type Link =
  | { kind: 'contact'; userId: string; email?: string }
  | { kind: 'transaction'; orderId: string }
  | { kind: 'workflow'; requestId: string }
  | { kind: 'none' }

export interface EventView {
  messageId: string
  type: string
  /** `Identify`, or the track event's name. */
  name: string
  at: string
  summary: string
  link: Link
  /** The event as the plugin saw it (for the playground). */
  event: Record<string, unknown>
  items: ItemView[]
  /** Set when the plugin reported a failure on the event (mapping, refusal). */
  failure?: string
}

export interface EventLog {
  list(): readonly EventView[]
  get(messageId: string): EventView | undefined
  add(view: EventView): void
  /** Items seen in the plugin's persisted queue. */
  queued(items: readonly BatchItem[]): void
  /** Items a batch request carried. */
  sent(items: readonly BatchItem[]): void
  /** The proxy's answer to a batch. */
  answered(results: readonly ItemResult[]): void
  failed(messageId: string, reason: string): void
  delivery(status: MessageStatus): void
  clear(): void
  subscribe(listener: () => void): () => void
}

const KEY = 'relay-demo:events'
const MAX_EVENTS = 100
const FINAL: readonly SendState[] = ['accepted', 'duplicate', 'rejected']

export function createEventLog(storage: Storage | null): EventLog {
  let events: EventView[] = load(storage)
  const listeners = new Set<() => void>()
  let scheduled = false

  const changed = () => {
    try {
      storage?.setItem(KEY, JSON.stringify(events))
    } catch {
      // storage full or blocked: the panel still works for this page
    }
    if (scheduled) return
    scheduled = true
    queueMicrotask(() => {
      scheduled = false
      for (const listener of listeners) listener()
    })
  }

  const itemOf = (item: { messageId: string; mapping: string }) =>
    events.find((e) => e.messageId === item.messageId)?.items.find((i) => i.mapping === item.mapping)

  const upsert = (item: BatchItem, send: SendState): ItemView | undefined => {
    const event = events.find((e) => e.messageId === item.messageId)
    if (!event) return undefined
    let view = event.items.find((i) => i.mapping === item.mapping)
    if (!view) {
      view = { mapping: item.mapping, action: item.action, payload: item.payload, send, requests: 0 }
      event.items.push(view)
    }
    return view
  }

  return {
    list: () => events,
    get: (messageId) => events.find((e) => e.messageId === messageId),
    add(view) {
      if (events.some((e) => e.messageId === view.messageId)) return
      events = [view, ...events].slice(0, MAX_EVENTS)
      changed()
    },
    queued(items) {
      let any = false
      for (const item of items) {
        const known = itemOf(item)
        if (known) continue
        any = upsert(item, 'queued') !== undefined || any
      }
      if (any) changed()
    },
    sent(items) {
      for (const item of items) {
        const view = upsert(item, 'sent')
        if (!view) continue
        view.requests += 1
        if (!FINAL.includes(view.send)) view.send = 'sent'
      }
      changed()
    },
    answered(results) {
      for (const result of results) {
        const view = itemOf(result)
        if (!view) continue
        // A second request for an item already stored answers "duplicate": the first answer stays.
        if (view.send === 'accepted' && result.status === 'duplicate') continue
        view.send = result.status
        if (result.error) view.error = `${result.error.code}: ${result.error.message}`
      }
      changed()
    },
    failed(messageId, reason) {
      const event = events.find((e) => e.messageId === messageId)
      if (!event) return
      event.failure = reason
      changed()
    },
    delivery(status) {
      const event = events.find((e) => e.messageId === status.messageId)
      if (!event) return
      const before = JSON.stringify(event.items)
      for (const d of status.items) {
        const view = event.items.find((i) => i.mapping === d.mapping)
        if (!view) continue
        view.delivery = d
        // The proxy has it, whatever answer this page saw (or missed, across a reload).
        if (view.send === 'queued' || view.send === 'sent') view.send = 'accepted'
      }
      if (JSON.stringify(event.items) !== before) changed()
    },
    clear() {
      events = []
      changed()
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}

function load(storage: Storage | null): EventView[] {
  try {
    const parsed: unknown = JSON.parse(storage?.getItem(KEY) ?? '[]')
    return Array.isArray(parsed) ? (parsed as EventView[]) : []
  } catch {
    return []
  }
}

/** True while the proxy may still change something about the event (so its status is worth asking). */
export function isInFlight(event: EventView): boolean {
  return event.items.some(
    (i) =>
      i.send !== 'queued' &&
      i.send !== 'rejected' &&
      (i.delivery === undefined || i.delivery.state === 'pending'),
  )
}
