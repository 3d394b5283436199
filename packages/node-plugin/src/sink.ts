// What the plugin hands mapped items to: core's delivery engine (direct mode) or the proxy.
import type { DeliveryItem, MappingSpec, PayloadCheckOptions } from '@qualtrics-relay/core'
import type { MappingFailureDetail } from './errors'

export interface PreparedMappings {
  mappings: readonly MappingSpec[]
  check: PayloadCheckOptions
}

export interface SubmitOptions {
  /** Resolve only once the items are delivered or given up, not once accepted. */
  wait: boolean
  /** Aborted when the hook's time is up: stop waiting (the items stay queued or stored). */
  signal: AbortSignal
  /** The event's userId, for signed identities (proxy mode). */
  userId: string | undefined
}

export interface Sink {
  /** The mappings to evaluate and the payload check options; starts the sink on first use. */
  prepare(): Promise<PreparedMappings>
  /** Hands the items over; resolves with those that failed (none when all were accepted or delivered). */
  submit(items: DeliveryItem[], options: SubmitOptions): Promise<MappingFailureDetail[]>
  /** Resolves once everything handed over so far is delivered (direct) or stored by the proxy. */
  flush(signal: AbortSignal): Promise<void>
  /** Flushes, then releases timers, connections and storage. */
  close(signal: AbortSignal): Promise<void>
  /** Items handed over and not yet settled, for error messages. */
  pendingCount(): Promise<number>
}
