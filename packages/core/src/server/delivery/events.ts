// What the engine reports as it works: the hook for metrics (Prometheus in the proxy) and logs.

import type { ActionKey } from '../../actions/payloads'
import type { ItemError, ItemResult } from '../store/types'
import type { CircuitTransition } from './circuit'

/** The Qualtrics client methods the engine calls, as metric labels. */
export type Endpoint =
  | 'createDirectoryContact'
  | 'searchDirectoryContacts'
  | 'createContactTransactions'
  | 'listContactTransactions'
  | 'listDirectories'
  | 'triggerWorkflow'

/** Which item an event is about (never its payload). */
export interface ItemRef {
  id: string
  messageId: string
  mappingId: string
  action: ActionKey
  source?: string
}

export interface DeliveryEvents {
  /** `enqueue()` stored items. */
  accepted: { accepted: number; duplicates: number }
  /** An item reached Qualtrics. `ageMs` runs from acceptance (or replay) to delivery. */
  delivered: { item: ItemRef; attempts: number; ageMs: number; result: ItemResult }
  /** An attempt failed and the item will be tried again at `nextAttemptAt`. */
  retried: { item: ItemRef; attempts: number; delayMs: number; nextAttemptAt: number; error: ItemError }
  /** An item was given up and moved to the dead letters. */
  deadLettered: { item: ItemRef; attempts: number; error: ItemError }
  /** One Qualtrics request finished. `status` is the HTTP status when there was one; `items` how many queued items it carried. */
  request: {
    endpoint: Endpoint
    ok: boolean
    status?: number
    errorCode?: string
    durationMs: number
    items: number
  }
  /** Qualtrics answered 429: the whole engine pauses for `pauseMs` and slows down. */
  rateLimited: { endpoint: Endpoint; retryAfterMs?: number; pauseMs: number }
  /** The Qualtrics circuit changed state: `open` (calls failed across the board; sending stopped),
   * `probing` (one request is testing Qualtrics), `closed` (Qualtrics answered; sending resumed).
   * `outageMs` (on closing) runs from when it opened. */
  circuit: CircuitTransition & { outageMs?: number }
  /** The engine itself hit a problem (usually the store); work is retried, nothing is dropped. */
  error: { where: string; error: unknown }
}

export type DeliveryEventName = keyof DeliveryEvents
export type DeliveryListener<E extends DeliveryEventName> = (payload: DeliveryEvents[E]) => void

export interface Emitter {
  on<E extends DeliveryEventName>(event: E, listener: DeliveryListener<E>): () => void
  emit<E extends DeliveryEventName>(event: E, payload: DeliveryEvents[E]): void
}

/** A tiny typed emitter; a throwing listener is reported through `onListenerError`, never to the engine. */
export function createEmitter(onListenerError: (error: unknown) => void): Emitter {
  const listeners = new Map<DeliveryEventName, Set<(payload: never) => void>>()
  return {
    on(event, listener) {
      let set = listeners.get(event)
      if (set === undefined) listeners.set(event, (set = new Set()))
      set.add(listener as (payload: never) => void)
      return () => {
        set.delete(listener as (payload: never) => void)
      }
    },
    emit(event, payload) {
      const set = listeners.get(event)
      if (set === undefined) return
      for (const listener of set) {
        try {
          ;(listener as (p: typeof payload) => void)(payload)
        } catch (error) {
          onListenerError(error)
        }
      }
    },
  }
}
