// Main-thread cost per event of the browser plugin (issue 5): the real plugin's `track` hook in a jsdom
// window — trigger, mapping, payload checks, enqueue into localStorage, and the batches it sends to a
// fetch that answers at once — beside Segment's evaluators (trigger + mapping only) on the same events.
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { StorageLike } from '@qualtrics-relay/browser-plugin'
import { mapEvent } from '@qualtrics-relay/core'
import { MAPPINGS, sampleEvents } from './core'
import { throughput } from './lib'

const root = dirname(dirname(fileURLToPath(import.meta.url)))

/** Events some mapping wants, and events none wants. */
const MATCHED = sampleEvents().slice(0, 3)
const UNMATCHED = sampleEvents().slice(3)

export interface PluginSpeed {
  /** µs per event through the plugin's hook, for events that map to at least one item. */
  matchedUs: number
  /** µs per event no mapping wants. */
  unmatchedUs: number
  /** µs per event of core's mapEvent alone (no plugin, no queue), matched events. */
  mapEventUs: number
  /** µs per event of Segment's validate(parseFql(text)) + transform on the matched events. */
  segmentUs: number
  /** Requests the plugin sent to the (instant) proxy while measured, and the items they carried. */
  requests: number
  items: number
}

// The little of jsdom and analytics-next used here (no type packages for them at the root).
interface Window extends Record<string, unknown> {
  localStorage: StorageLike
}
type JsdomModule = { JSDOM: new (html: string, options: { url: string }) => { window: Window } }
interface Ctx {
  event: { type: string }
}
type AnalyticsNext = { Context: new (event: Record<string, unknown>) => Ctx }

export async function measurePluginSpeed(rounds = 4000): Promise<PluginSpeed> {
  const jsdom = 'jsdom' // by name: there is no type package for it at the root
  const { JSDOM } = (await import(jsdom)) as JsdomModule
  const dom = new JSDOM('<!doctype html><html><body></body></html>', { url: 'https://shop.example/' })
  const g = globalThis as Record<string, unknown>
  for (const name of ['window', 'document', 'navigator', 'localStorage'])
    Object.defineProperty(g, name, { value: dom.window[name], configurable: true, writable: true })

  const pluginRequire = createRequire(join(root, 'packages/browser-plugin/package.json'))
  const { Context } = (await import(
    pathToFileURL(pluginRequire.resolve('@segment/analytics-next')).href
  )) as AnalyticsNext
  const { createQualtricsPlugin } = await import('@qualtrics-relay/browser-plugin')

  const mappings = MAPPINGS
  let requests = 0
  let items = 0
  // A proxy that answers at once: every item accepted. What is timed is the page's own work.
  const fetch = async (_url: unknown, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body)) as { items: { messageId: string; mapping: string }[] }
    requests++
    items += body.items.length
    const results = body.items.map((i) => ({
      messageId: i.messageId,
      mapping: i.mapping,
      status: 'accepted',
    }))
    return new Response(JSON.stringify({ results }), { status: 202 })
  }
  const plugin = createQualtricsPlugin({
    proxyUrl: 'https://relay.example',
    writeKey: 'wk_bench',
    settings: { writeKey: 'wk_bench', mappings },
    fetch: fetch as typeof globalThis.fetch,
    storage: dom.window.localStorage,
    flushIntervalMs: 0,
  })
  // The hooks are called as analytics-next calls them; `load` needs no analytics instance here.
  type Hook = (ctx: Ctx) => Promise<unknown>
  const hooks = plugin as unknown as Record<'load' | 'track' | 'identify' | 'page', Hook> & {
    unload: (ctx: Ctx) => void
  }
  await hooks.load(new Context({ type: 'track' }))
  const { track, identify, page } = hooks

  let n = 0
  const run = async (events: readonly Record<string, unknown>[], count: number) => {
    const contexts = Array.from({ length: count }, (_, i) => {
      const event = events[i % events.length]!
      return new Context({ ...event, messageId: `m-${n++}` })
    })
    const start = performance.now()
    for (const ctx of contexts) {
      const type = ctx.event.type
      await (type == 'identify' ? identify(ctx) : type == 'page' ? page(ctx) : track(ctx))
    }
    // let the last batch go out before the next measurement
    await new Promise((resolve) => setTimeout(resolve, 5))
    return ((performance.now() - start) * 1000) / count
  }
  await run(MATCHED, 500) // warm-up
  await run(UNMATCHED, 500)
  requests = items = 0
  const matched: number[] = []
  const unmatched: number[] = []
  for (let i = 0; i < 5; i++) {
    matched.push(await run(MATCHED, rounds))
    unmatched.push(await run(UNMATCHED, rounds))
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[2]!
  hooks.unload(new Context({ type: 'track' }))

  const coreRequire = createRequire(join(root, 'packages/core/package.json'))
  const { parseFql, validate } = coreRequire('@segment/destination-subscriptions') as {
    parseFql: (s: string) => unknown
    validate: (ast: unknown, event: unknown) => boolean
  }
  const { transform } = coreRequire('@segment/actions-core/mapping-kit') as {
    transform: (mapping: unknown, data: unknown) => unknown
  }
  const events = MATCHED.map((e, i) => ({ ...e, messageId: `s-${i}` }))
  const segment = throughput(() => {
    for (const event of events)
      for (const m of mappings) if (validate(parseFql(m.triggerText), event)) transform(m.fields, event)
  })
  const ours = throughput(() => {
    for (const event of events) mapEvent(mappings, event)
  })
  return {
    matchedUs: median(matched),
    unmatchedUs: median(unmatched),
    mapEventUs: 1e6 / (ours * events.length),
    segmentUs: 1e6 / (segment * events.length),
    requests,
    items,
  }
}
