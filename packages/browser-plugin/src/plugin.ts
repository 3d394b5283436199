// The analytics-next destination: loads the mappings, maps each event with core's mapEvent, queues the
// items. It never throws into analytics-next and always returns the ctx; failures are set on the ctx and
// emitted as analytics `error` events (code `delivery_failure`).
//
// The mappings are given inline, or loaded from the proxy, cached in storage and revalidated with the
// ETag on every page load. With a cached copy the plugin starts at once; without one, events wait for the
// first answer. Network errors, 408, 429 and 5xx are retried; another status is final and reported.
import { mapEvent, RelayError, SETTINGS_VERSION, type PublicSettings } from '@qualtrics-relay/core'
import type { Analytics, Context, Plugin } from '@segment/analytics-next'
import { relayError, resolveOptions, type QualtricsPluginOptions } from './options'
import { createQueue, type Report } from './queue'
import { read, request } from './util'

/** The plugin's name: the key of the `integrations` option (`{ Qualtrics: false }`). */
export const PLUGIN_NAME = 'Qualtrics'
export const VERSION = '0.1.0'
/** How long an event may hold analytics-next while the first settings load, in ms. */
const SETTINGS_WAIT_MS = 1000

/** Served settings are used only in the format this plugin reads (see SETTINGS_VERSION). */
const usable = (s: unknown): s is PublicSettings =>
  !!s && Array.isArray((s as PublicSettings).mappings) && (s as PublicSettings).version === SETTINGS_VERSION

type Event = Context['event']
type Consent = { consent?: { categoryPreferences?: Record<string, unknown> } | null }

/** Creates the destination plugin; throws a RelayError (code `CONFIG_INVALID`) listing every bad option. */
export function createQualtricsPlugin(options: QualtricsPluginOptions): Plugin {
  const o = resolveOptions(options)
  const { log, writeKey } = o
  // The cache's format version is in its key (`s2`): a copy written by an older plugin is ignored.
  const key = `qr:${writeKey}:s2`
  let analytics: Analytics | undefined
  /** The settings in use, or the final error; undefined until the first are known. */
  let settings: PublicSettings | RelayError | undefined = o.settings
  let started = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let known!: () => void
  const ready = new Promise<void>((resolve) => (known = resolve))
  if (settings) known() // inline: known from the start
  const set = (s: PublicSettings | RelayError) => {
    // A final error replaces settings already in use (from the cache) only when the proxy refused them
    // (401, 403, 404 …: the write key or the origin was removed), not for a settings version it cannot read.
    if (!settings || !(s instanceof RelayError) || s.status! > 399) settings = s
    known()
  }

  // `tag`: the cached copy's ETag. A proxy that does not allow If-None-Match in CORS fails the
  // conditional request on the network: the retry asks plainly.
  const load = async (attempt: number, tag?: string | null) => {
    const [status, body, wait, headers] = await request(
      o,
      `settings?writeKey=${encodeURIComponent(writeKey)}`,
      { headers: tag ? { 'If-None-Match': tag } : {} },
      attempt,
    )
    if (status == 304) return
    if (usable(body)) {
      set(body)
      log('settings loaded', body)
      try {
        o.storage!.setItem(key, JSON.stringify({ e: headers!.get('etag'), s: body }))
      } catch {
        // storage refused the copy (quota) or there is none: the settings are in use all the same
      }
      return
    }
    const version = status == 200 && body ? body.version : SETTINGS_VERSION
    // A refusal by the proxy names its code and what to check (the proxy's message says it).
    const e = body && body.error
    if (wait === undefined) {
      const error = new RelayError(
        'CONFIG_INVALID',
        `Qualtrics settings could not be loaded from ${o.base}settings (Received: HTTP ${status}${e ? ` ${e.code}: ${e.message}` : ''}${version !== SETTINGS_VERSION ? `, settings version ${version}; this plugin reads version ${SETTINGS_VERSION}` : ''})`,
        { status },
      )
      log(error.message)
      set(error)
    } else timer = setTimeout(load, wait, attempt + 1, status ? tag : null)
  }

  const report: Report = (reason, ctx) => {
    // The settings error was logged once when it came; each event only carries it.
    if (reason != settings) log(reason.message)
    if (ctx) ctx.setFailedDelivery({ reason })
    if (analytics) analytics.emit('error', { code: 'delivery_failure', reason, ctx })
  }
  const queue = createQueue(o, report)
  // Events that wait for the very first settings (a first visit) are also kept in storage, under one key
  // per write key: a page closed before the settings came leaves them to the next page, which handles
  // them once it has settings. Two tabs may both handle one; the proxy answers the second `duplicate`.
  const early = `qr:${writeKey}:e`
  let held: Event[] = []
  const hold = (list: Event[]) => {
    held = list
    try {
      if (list[0]) o.storage!.setItem(early, JSON.stringify(list))
      else o.storage!.removeItem(early)
    } catch {
      // no storage, or it refused (quota): they wait in memory only
    }
  }
  const start = () => {
    if (started) return
    started = 1
    queue.start()
    const left = read<Event[]>(o.storage, early)
    if (Array.isArray(left)) {
      hold([])
      void ready.then(() => left.forEach((event) => void handle(event)))
    }
    if (!settings) {
      const cached = read<{ e: string | null; s: PublicSettings }>(o.storage, key)
      // The ETag goes with the copy in use only: a 304 must never leave the plugin without settings.
      const ok = cached && usable(cached.s)
      if (ok) set(cached.s)
      void load(0, ok ? cached.e : null)
    }
  }

  const handle = async (event: Event, ctx?: Context): Promise<void> => {
    try {
      const { consent } = (event.context || {}) as Consent
      const granted = consent && consent.categoryPreferences
      if (granted && o.consentCategories.some((c) => granted[c] !== true)) {
        return log('no consent', event.messageId)
      }
      start()
      // analytics-next does not await load(): events may come before the settings
      if (!settings) {
        hold([...held, event])
        await ready
        hold(held.filter((e) => e != event))
      }
      const s = settings!
      if (s instanceof RelayError) return report(s, ctx)
      const { payloads, failures } = mapEvent(s.mappings, event)
      // undefined (no identity function, or no signed-in user) leaves `identity` out of the JSON
      const identity = o.identity && o.identity(event)
      for (const { mappingId, action, payload } of payloads)
        queue.add(
          { messageId: event.messageId!, mapping: mappingId, action, payload, identity: identity! },
          ctx,
        )
      log(`${event.type} mapped`, { payloads, failures })
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
  }
  // While the first settings are on their way, a hook holds analytics-next (and `await analytics.track()`)
  // for at most SETTINGS_WAIT_MS; the event is still handled once they arrive.
  const hook = (ctx: Context): Promise<Context> => {
    const done = handle(ctx.event, ctx).then(() => ctx)
    return settings
      ? done
      : Promise.race([done, new Promise<Context>((resolve) => setTimeout(resolve, SETTINGS_WAIT_MS, ctx))])
  }

  return {
    name: PLUGIN_NAME,
    type: 'destination',
    version: VERSION,
    isLoaded: () => !!started,
    load: async (_ctx, instance) => {
      analytics = instance
      start()
    },
    unload: () => {
      queue.stop()
      clearTimeout(timer)
    },
    identify: hook,
    track: hook,
    page: hook,
    screen: hook,
    group: hook,
    alias: hook,
  }
}
