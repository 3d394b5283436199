// The analytics-node destination plugin. For each event: the mappings whose trigger matches are applied
// and checked by core's mapEvent (the same code as the browser plugin and the proxy), and the payloads are
// handed to a sink (core's delivery engine, or the proxy). Every failure is reported on the event with
// `ctx.setFailedDelivery`, every hook returns its ctx, and every wait is bounded.
import {
  checkPayload,
  mapEvent,
  PayloadValidationError,
  RelayError,
  type DeliveryItem,
  type MappedPayload,
} from '@qualtrics-relay/core'
import type { Context, Plugin } from '@segment/analytics-node'
import { createDirectSink } from './direct-sink'
import { PluginTimeoutError, QualtricsDeliveryError, type MappingFailureDetail } from './errors'
import {
  DEFAULTS,
  parseNodePluginOptions,
  type QualtricsNodePluginOptions,
  type ResolvedOptions,
} from './options'
import { createProxySink } from './proxy-sink'
import type { Sink } from './sink'
import { withTimeout } from './timeout'

export const PLUGIN_NAME = 'Qualtrics'
export const PLUGIN_VERSION = '0.1.0'
/** The default `source` of the items this plugin enqueues in direct mode (see the `source` option). */
export const ITEM_SOURCE = DEFAULTS.source

export interface WaitOptions {
  /** Overrides the plugin's `flushTimeoutMs` for this call. */
  timeoutMs?: number
}

/** An analytics-node destination plugin, plus what a short-lived process needs before it ends. */
export interface QualtricsNodePlugin extends Plugin {
  /** `'direct'` or `'proxy'`. */
  readonly mode: ResolvedOptions['mode']
  /**
   * Resolves once everything handed over so far is delivered to Qualtrics (direct mode) or stored by the
   * proxy (proxy mode). Rejects with a PluginTimeoutError when that takes longer than `flushTimeoutMs`.
   */
  flush(options?: WaitOptions): Promise<void>
  /** Flushes, then stops the engine and closes its storage. Later events are reported as failed. */
  close(options?: WaitOptions): Promise<void>
}

/** Creates the plugin; throws a ConfigError listing every bad option. Nothing starts until the first use. */
export function createQualtricsNodePlugin(options: QualtricsNodePluginOptions): QualtricsNodePlugin {
  const config = parseNodePluginOptions(options)
  const sink: Sink = config.mode === 'direct' ? createDirectSink(config) : createProxySink(config)
  const { logger } = config
  let closing: Promise<void> | undefined

  function warn(fields: object, message: string): void {
    try {
      logger?.warn(fields, message)
    } catch {
      // A failing logger must not fail an event.
    }
  }

  async function deliver(ctx: Context, signal: AbortSignal, stage: { now: string }): Promise<void> {
    const event = ctx.event
    const messageId = event.messageId ?? ctx.id
    if (closing) {
      throw new RelayError(
        'DELIVERY_FAILED',
        `The Qualtrics plugin is closed; event ${messageId} was not sent`,
      )
    }
    stage.now = config.mode === 'proxy' ? 'waiting for the settings from the proxy' : 'starting'
    const { mappings, check } = await sink.prepare()
    stage.now = 'mapping'
    const mapped = mapEvent(mappings, toPlainEvent(event), (a, p) => checkPayload(a, p, check))
    const failures: MappingFailureDetail[] = mapped.failures.map(({ mappingId, action, issues }) => ({
      messageId,
      mappingId,
      action,
      error: new PayloadValidationError('The mapped payload is invalid', issues),
    }))
    if (mapped.payloads.length > 0) {
      stage.now = config.mode === 'proxy' ? 'posting to the proxy' : 'enqueueing'
      // In proxy mode the proxy sets the source (the write key's name).
      const source = config.mode === 'direct' ? config.source : undefined
      const items = mapped.payloads.map((p) => toItem(messageId, p, source))
      if (config.waitForDelivery) stage.now = 'waiting for delivery'
      failures.push(
        ...(await sink.submit(items, {
          wait: config.waitForDelivery,
          signal,
          userId: event.userId ?? undefined,
        })),
      )
    }
    if (failures.length > 0) {
      for (const f of failures) {
        warn(
          { messageId, mappingId: f.mappingId, action: f.action, code: f.error.code },
          'qualtrics event failed',
        )
      }
      ctx.setFailedDelivery({ reason: new QualtricsDeliveryError(messageId, failures) })
    }
  }

  async function handle(ctx: Context): Promise<Context> {
    const controller = new AbortController()
    const stage = { now: 'starting' }
    try {
      await withTimeout(deliver(ctx, controller.signal, stage), config.timeoutMs, () => {
        controller.abort()
        const handedOver =
          stage.now === 'waiting for delivery' ||
          stage.now === 'enqueueing' ||
          stage.now === 'posting to the proxy'
        return new PluginTimeoutError(
          `Qualtrics: event ${ctx.event.messageId ?? ctx.id} timed out after ${config.timeoutMs} ms while ${stage.now}` +
            (handedOver ? '; its items stay queued and may still be delivered' : ''),
          config.timeoutMs,
        )
      })
    } catch (error) {
      const reason =
        error instanceof RelayError
          ? error
          : new RelayError('DELIVERY_FAILED', `Qualtrics: the event could not be handled: ${String(error)}`, {
              cause: error,
            })
      warn({ messageId: ctx.event.messageId ?? ctx.id, code: reason.code }, 'qualtrics event failed')
      ctx.setFailedDelivery({ reason })
    }
    return ctx
  }

  async function bounded(what: 'flush' | 'close', options: WaitOptions | undefined): Promise<void> {
    const timeoutMs = options?.timeoutMs ?? config.flushTimeoutMs
    const controller = new AbortController()
    const work = what === 'flush' ? sink.flush(controller.signal) : sink.close(controller.signal)
    try {
      await withTimeout(work, timeoutMs, () => {
        controller.abort()
        return new PluginTimeoutError(`Qualtrics: ${what} did not finish within ${timeoutMs} ms`, timeoutMs)
      })
    } catch (error) {
      if (!(error instanceof PluginTimeoutError)) throw error
      const left = await sink.pendingCount().catch(() => undefined)
      // Once aborted, close only stops the engine and closes storage: let it finish (briefly) so the
      // caller may reopen the same database as soon as this rejects.
      if (what === 'close') await withTimeout(work, 5_000, () => error).catch(() => undefined)
      const lost =
        config.mode === 'direct' && config.storage === undefined
          ? ' (in memory: lost if the process ends)'
          : ''
      const detail =
        left === undefined ? '' : `; ${left} item${left === 1 ? '' : 's'} not settled${left > 0 ? lost : ''}`
      throw new PluginTimeoutError(`${error.message}${detail}`, timeoutMs)
    }
  }

  return {
    name: PLUGIN_NAME,
    type: 'destination',
    version: PLUGIN_VERSION,
    mode: config.mode,
    isLoaded: () => true,
    // analytics-node does not await destination loads: hooks wait for the sink themselves.
    load: async () => {
      sink.prepare().catch(() => {
        // Reported on the first event that needs it.
      })
    },
    unload: () => (closing ??= bounded('close', undefined)),
    track: handle,
    identify: handle,
    page: handle,
    screen: handle,
    group: handle,
    alias: handle,
    flush: (options) => (closing ? closing : bounded('flush', options)),
    close: (options) => (closing ??= bounded('close', options)),
  }
}

function toItem(messageId: string, payload: MappedPayload, source: string | undefined): DeliveryItem {
  return {
    messageId,
    mappingId: payload.mappingId,
    action: payload.action,
    payload: payload.payload,
    ...(source === undefined ? {} : { source }),
  } as DeliveryItem
}

/**
 * The event as JSON, as Segment, the browser plugin and the proxy see it: dates become ISO strings, and
 * the shared `ctx.event` is never mutated. A value JSON cannot carry (a cycle, a BigInt) fails the event.
 */
function toPlainEvent(event: object): object {
  try {
    return JSON.parse(JSON.stringify(event)) as object
  } catch (error) {
    throw new PayloadValidationError('Qualtrics: the event is not serialisable as JSON', [
      {
        path: 'event',
        message: `has a circular or BigInt value (${error instanceof Error ? error.message : 'unknown'})`,
      },
    ])
  }
}
