// The persisted queue: reloads, several tabs, quota errors, caps.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Plugin } from '@segment/analytics-next'
import { createQualtricsPlugin, type QualtricsPluginOptions } from '../src/index'
import {
  loadAnalytics,
  memoryStorage,
  persistedQueues,
  recordingLogger,
  setOnline,
  settingsFixture,
  waitFor,
  WRITE_KEY,
  type MemoryStorage,
} from './support/harness'
import { startWireServer, type WireServer } from './support/wire-server'

let server: WireServer
let storage: MemoryStorage
const plugins: Plugin[] = []

beforeEach(async () => {
  server = await startWireServer(settingsFixture())
  storage = memoryStorage()
})
afterEach(async () => {
  for (const p of plugins.splice(0)) await p.unload?.(undefined as never, undefined as never)
  await server.stop()
})

/** A plugin on this file's storage; `inline: false` makes it load its settings from the server. */
function plugin(options: Partial<QualtricsPluginOptions> = {}, inline = true): Plugin {
  const p = createQualtricsPlugin({
    proxyUrl: server.url,
    writeKey: WRITE_KEY,
    ...(inline ? { settings: server.settings } : {}),
    storage,
    flushIntervalMs: 0,
    ...options,
  })
  plugins.push(p)
  return p
}

const track = (n: number) => ['Transaction Created', { n }, { messageId: `m-${n}` }] as const
const queuedIds = (s: MemoryStorage = storage) =>
  Object.values(persistedQueues(s))
    .flatMap((v) => v.q.map(([, item]) => item.messageId))
    .sort()
const storedIds = () => server.stored.map((i) => i.messageId).sort()
const item = (n: number) => ({
  messageId: `m-${n}`,
  mapping: 'purchase',
  action: 'upsertContactTransaction',
  payload: {
    directoryId: 'POOL_abc123',
    mailingListId: 'CG_abc123',
    extRef: 'u',
    transactionDate: '2025-01-01 00:00:00',
    transactionData: {},
  },
})

describe('reload', () => {
  it('delivers a persisted queue once from the next page', async () => {
    await server.stop()
    const { lines, logger } = recordingLogger()
    const first = plugin({ debug: logger })
    const page1 = await loadAnalytics([first])
    for (let n = 1; n <= 3; n++) await page1.track(...track(n))
    await waitFor('a failed attempt', () => lines.some((l) => l.includes('to be retried')))
    expect(queuedIds()).toEqual(['m-1', 'm-2', 'm-3'])

    // The page goes away: pagehide releases the queue (its keepalive sends fail, the proxy is down).
    window.dispatchEvent(new Event('pagehide'))
    await first.unload!(undefined as never, undefined as never)
    expect(Object.values(persistedQueues(storage)).map((v) => v.r)).toEqual([1])

    await server.start()
    await loadAnalytics([plugin()]) // the next page, same storage
    await waitFor('3 stored', () => server.stored.length === 3)
    expect(storedIds()).toEqual(['m-1', 'm-2', 'm-3'])
    expect(server.counts.duplicate).toBe(0)
    await waitFor('queue emptied', () => queuedIds().length === 0)
  })

  it('keeps events made before the very first settings for the next page when this one closes first', async () => {
    // A first visit with the proxy down: no settings, none cached. The events wait — in storage too.
    await server.stop()
    const first = plugin({}, false)
    const page1 = await loadAnalytics([first])
    await page1.track(...track(1))
    await page1.identify('user-early', { email: 'early@example.com' }, { messageId: 'm-id' })
    const early = () => JSON.parse(storage.getItem(`qr:${WRITE_KEY}:e`) ?? '[]') as { messageId: string }[]
    expect(early().map((e) => e.messageId)).toEqual(['m-1', 'm-id'])
    window.dispatchEvent(new Event('pagehide'))
    await first.unload!(undefined as never, undefined as never)

    // The next page gets settings: it maps and sends what the first page held, once.
    await server.start()
    await loadAnalytics([plugin({}, false)])
    await waitFor('both stored', () => server.stored.length === 2)
    expect(server.stored.map((i) => `${i.messageId} ${i.mapping}`).sort()).toEqual([
      'm-1 purchase',
      'm-id contact',
    ])
    expect(storage.getItem(`qr:${WRITE_KEY}:e`)).toBeNull()
  })

  it('hands the held events to a next page that has its settings inline', async () => {
    await server.stop()
    const first = plugin({}, false)
    await (await loadAnalytics([first])).track(...track(3))
    await first.unload!(undefined as never, undefined as never)
    await server.start()
    await loadAnalytics([plugin()])
    await waitFor('stored', () => server.stored.length === 1)
    expect(server.stored.map((i) => i.messageId)).toEqual(['m-3'])
  })

  it('forgets the events it held once the settings arrive and it has queued them', async () => {
    const analytics = await loadAnalytics([plugin({}, false)])
    await analytics.track(...track(2))
    await waitFor('stored', () => server.stored.length === 1)
    expect(storage.getItem(`qr:${WRITE_KEY}:e`)).toBeNull()
    // A second page finds nothing to hand over: the event is not sent again.
    await loadAnalytics([plugin({}, false)])
    await waitFor('settings asked twice', () => server.settingsRequests.length === 2)
    expect(server.batches.flatMap((b) => b.body.items.map((i) => i.messageId))).toEqual(['m-2'])
  })

  it('adopts the queue of a crashed tab once it has not been written for 5 minutes', async () => {
    storage.setItem(
      `qr:${WRITE_KEY}:q:crashed`,
      JSON.stringify({ t: Date.now() - 6 * 60_000, r: 0, q: [[Date.now() - 6 * 60_000, item(1)]] }),
    )
    storage.setItem(
      `qr:${WRITE_KEY}:q:alive`,
      JSON.stringify({ t: Date.now(), r: 0, q: [[Date.now(), item(2)]] }),
    )
    const analytics = await loadAnalytics([plugin()])
    await analytics.track(...track(3))
    await waitFor('2 stored', () => server.stored.length === 2)
    expect(storedIds()).toEqual(['m-1', 'm-3'])
    // The live tab's queue is its own business.
    await waitFor('own queue emptied', () => Object.keys(persistedQueues(storage)).length === 1)
    expect(Object.keys(persistedQueues(storage))).toEqual([`qr:${WRITE_KEY}:q:alive`])
  })

  it('rewrites its key while it retries, so other tabs do not take a live queue for a crashed one', async () => {
    await server.stop()
    const { lines, logger } = recordingLogger()
    const analytics = await loadAnalytics([plugin({ debug: logger })])
    await analytics.track(...track(1))
    const [key] = Object.keys(persistedQueues(storage))
    const written = () => (JSON.parse(storage.getItem(key!)!) as { t: number }).t
    const first = written()
    const retried = () => lines.filter((l) => l.includes('to be retried')).length
    await waitFor('a second failed attempt', () => retried() >= 2)
    expect(written()).toBeGreaterThan(first)
    expect(queuedIds()).toEqual(['m-1'])
  })

  it('keeps a memory-only queue (storage: null) across pagehide and a back/forward cache restore', async () => {
    await server.stop()
    const { lines, logger } = recordingLogger()
    const analytics = await loadAnalytics([plugin({ storage: null, debug: logger })])
    await analytics.track(...track(1))
    const retried = () => lines.filter((l) => l.includes('to be retried')).length
    await waitFor('a failed attempt', () => retried() === 1)
    window.dispatchEvent(new Event('pagehide'))
    await waitFor('the hide-time send failed too', () => retried() === 2)
    window.dispatchEvent(new Event('pageshow')) // restored: nothing was in storage, no other tab has the item
    await server.start()
    setOnline(true) // "online" ends the backoff
    await waitFor('stored', () => server.stored.length === 1)
    expect(storedIds()).toEqual(['m-1'])
  })

  it('skips unreadable queue entries and removes them', async () => {
    storage.setItem(`qr:${WRITE_KEY}:q:broken`, '{not json')
    storage.setItem(
      `qr:${WRITE_KEY}:q:odd`,
      JSON.stringify({
        t: 0,
        r: 1,
        q: [
          [0, { nothing: true }],
          [0, null],
          [Date.now(), item(4)],
        ],
      }),
    )
    await loadAnalytics([plugin()])
    await waitFor('stored', () => server.stored.length === 1)
    expect(storedIds()).toEqual(['m-4'])
    await waitFor('keys removed', () => Object.keys(persistedQueues(storage)).length === 0)
  })
})

describe('two tabs', () => {
  it('each sends its own items; no loss and no duplicate', async () => {
    const tabA = await loadAnalytics([plugin({ batchSize: 2 })])
    const tabB = await loadAnalytics([plugin({ batchSize: 3 })])
    await Promise.all([1, 2, 3, 4].map((n) => tabA.track(...track(n))))
    await Promise.all([5, 6, 7, 8].map((n) => tabB.track(...track(n))))
    await waitFor('8 stored', () => server.stored.length === 8)
    expect(storedIds()).toEqual(['m-1', 'm-2', 'm-3', 'm-4', 'm-5', 'm-6', 'm-7', 'm-8'])
    expect(server.counts).toEqual({ accepted: 8, duplicate: 0, rejected: 0 })
  })

  it('the remaining tab takes over the items of a tab that closed while the proxy was down', async () => {
    await server.stop()
    const { lines, logger } = recordingLogger()
    const pluginA = plugin({ debug: logger })
    const tabA = await loadAnalytics([pluginA])
    const tabB = await loadAnalytics([plugin()])
    for (const n of [1, 2, 3]) await tabA.track(...track(n))
    for (const n of [4, 5]) await tabB.track(...track(n))
    await waitFor('A failed once', () => lines.some((l) => l.includes('to be retried')))
    expect(Object.keys(persistedQueues(storage))).toHaveLength(2)

    await pluginA.unload!(undefined as never, undefined as never) // tab A closes: its queue is released
    await server.start()
    await tabB.track(...track(6))
    await waitFor('6 stored', () => server.stored.length === 6)
    expect(storedIds()).toEqual(['m-1', 'm-2', 'm-3', 'm-4', 'm-5', 'm-6'])
    expect(server.counts.duplicate).toBe(0)
  })
})

describe('storage limits', () => {
  it('keeps working in memory when every setItem throws a quota error', async () => {
    const full = memoryStorage(0)
    const analytics = await loadAnalytics([plugin({ storage: full })])
    for (const n of [1, 2]) await analytics.track(...track(n))
    await waitFor('2 stored', () => server.stored.length === 2)
    expect(full.map.size).toBe(0)
  })

  it('persists the newest items that fit, keeps the rest in memory, and delivers all', async () => {
    const small = memoryStorage(1200)
    await server.stop()
    const { lines, logger } = recordingLogger()
    const analytics = await loadAnalytics([plugin({ storage: small, debug: logger })])
    for (const n of [1, 2, 3, 4, 5]) await analytics.track(...track(n))
    await waitFor('storage refused', () => lines.some((l) => l.includes('storage full')))
    const persisted = queuedIds(small)
    expect(persisted.length).toBeGreaterThan(0)
    expect(persisted.length).toBeLessThan(5)
    expect(persisted).toEqual(['m-1', 'm-2', 'm-3', 'm-4', 'm-5'].slice(5 - persisted.length))
    await server.start()
    await waitFor('5 stored', () => server.stored.length === 5)
  })

  it('works with no storage at all (storage: null)', async () => {
    const analytics = await loadAnalytics([plugin({ storage: null })])
    await analytics.track(...track(1))
    await waitFor('stored', () => server.stored.length === 1)
  })

  it('uses localStorage by default and leaves nothing behind once delivered', async () => {
    localStorage.clear()
    const p = createQualtricsPlugin({ proxyUrl: server.url, writeKey: WRITE_KEY, flushIntervalMs: 0 })
    plugins.push(p)
    const analytics = await loadAnalytics([p])
    await analytics.track(...track(1))
    await waitFor('stored', () => server.stored.length === 1)
    await waitFor('queue key removed', () => Object.keys(localStorage).every((k) => !k.includes(':q:')))
    expect(Object.keys(localStorage)).toEqual([`qr:${WRITE_KEY}:s2`])
    localStorage.clear()
  })

  it('drops the oldest items beyond maxQueueItems and reports them on their ctx', async () => {
    await server.stop()
    const analytics = await loadAnalytics([plugin({ maxQueueItems: 2, flushIntervalMs: 60_000 })])
    const first = await analytics.track(...track(1))
    for (const n of [2, 3]) await analytics.track(...track(n))
    expect(queuedIds()).toEqual(['m-2', 'm-3'])
    expect((first.failedDelivery()?.reason as Error).message).toMatchInlineSnapshot(
      `"Qualtrics did not get m-1, mapping purchase: dropped from the queue (limits: 2 items, 200000 bytes, 604800000 ms)"`,
    )
  })

  it('drops items older than maxAgeMs instead of sending them', async () => {
    const old = Date.now() - 2 * 60_000
    storage.setItem(
      `qr:${WRITE_KEY}:q:gone`,
      JSON.stringify({
        t: old,
        r: 1,
        q: [
          [old, item(1)],
          [Date.now(), item(2)],
        ],
      }),
    )
    await loadAnalytics([plugin({ maxAgeMs: 60_000 })])
    await waitFor('stored', () => server.stored.length === 1)
    expect(storedIds()).toEqual(['m-2'])
  })
})
