// The analytics-next destination: waits for the mappings, maps each event with core's mapEvent, queues
// the items. It never throws into analytics-next and always returns the ctx; failures are set on the
// ctx and emitted as analytics `error` events (code `delivery_failure`).
import { mapEvent, RelayError, type PublicSettings } from '@qualtrics-relay/core'
import type { Analytics, Context, Plugin } from '@segment/analytics-next'
import { relayError, resolveOptions, type QualtricsPluginOptions } from './options'
import { createQueue, type Report } from './queue'
import { loadSettings } from './settings'

/** The plugin's name: the key of the `integrations` option (`{ Qualtrics: false }`). */
export const PLUGIN_NAME = 'Qualtrics'
export const VERSION = '0.1.0'
/** How long an event may hold analytics-next while the first settings load, in ms. */
const SETTINGS_WAIT_MS = 1000

type Consent = { consent?: { categoryPreferences?: Record<string, unknown> } | null }

/** Creates the destination plugin; throws a RelayError (code `CONFIG_INVALID`) listing every bad option. */
export function createQualtricsPlugin(options: QualtricsPluginOptions): Plugin {
  const o = resolveOptions(options)
  let analytics: Analytics | undefined
  /** The settings in use, or the final error; undefined until the first are known. */
  let settings: PublicSettings | RelayError | undefined = o.settings
  let stop: (() => void) | undefined
  let known!: () => void
  const ready = new Promise<void>((resolve) => (known = resolve))

  const report: Report = (reason, ctx) => {
    o.log(reason.message)
    if (ctx) ctx.setFailedDelivery({ reason })
    if (analytics) analytics.emit('error', { code: 'delivery_failure', reason, ctx })
  }
  const queue = createQueue(o, report)
  const start = () => {
    if (stop) return
    queue.start()
    stop = o.settings
      ? () => {}
      : loadSettings(o, (s) => {
          // A final error never replaces settings already in use (from the cache).
          if (!settings || !(s instanceof RelayError)) settings = s
          known()
        })
  }

  const handle = async (ctx: Context): Promise<Context> => {
    const event = ctx.event
    try {
      const { consent } = (event.context || {}) as Consent
      const granted = consent && consent.categoryPreferences
      if (granted && o.consentCategories.some((c) => granted[c] !== true)) {
        o.log('no consent', event.messageId)
        return ctx
      }
      start()
      if (!settings) await ready // analytics-next does not await load(): events may come before the settings
      const s = settings!
      if (s instanceof RelayError) return (report(s, ctx), ctx)
      const { payloads, failures } = mapEvent(s.mappings, event, { workflowOrigins: s.workflowOrigins || [] })
      // undefined (no identity function, or no signed-in user) leaves `identity` out of the JSON
      const identity = o.identity && o.identity(event)
      for (const { mappingId, action, payload } of payloads)
        queue.add(
          {
            messageId: event.messageId!,
            mapping: mappingId,
            action,
            payload,
            identity: identity!,
          },
          ctx,
        )
      o.log(`${event.type} mapped`, { payloads, failures })
      if (failures[0])
        report(
          relayError(
            'PAYLOAD_INVALID',
            `Qualtrics could not map the ${event.type} event`,
            failures.flatMap((f) => f.issues.map((i) => ({ ...i, path: `${f.mappingId}.${i.path}` }))),
          ),
          ctx,
        )
    } catch (error) {
      report(
        new RelayError('DELIVERY_FAILED', `Qualtrics plugin failed: ${String(error)}`, { cause: error }),
        ctx,
      )
    }
    return ctx
  }
  // While the first settings are on their way, a hook holds analytics-next (and `await analytics.track()`)
  // for at most SETTINGS_WAIT_MS; the event is still handled once they arrive.
  const hook = (ctx: Context): Promise<Context> =>
    settings
      ? handle(ctx)
      : Promise.race([
          handle(ctx),
          new Promise<Context>((resolve) => setTimeout(resolve, SETTINGS_WAIT_MS, ctx)),
        ])

  return {
    name: PLUGIN_NAME,
    type: 'destination',
    version: VERSION,
    isLoaded: () => !!stop,
    load: async (_ctx, instance) => {
      analytics = instance
      start()
    },
    unload: () => {
      queue.stop()
      if (stop) stop()
    },
    identify: hook,
    track: hook,
    page: hook,
    screen: hook,
    group: hook,
    alias: hook,
  }
}
