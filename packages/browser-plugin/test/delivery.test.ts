// Transport: batching, page unload (keepalive, sendBeacon), offline, proxy down, 429, final refusals.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Plugin } from '@segment/analytics-next'
import { createQualtricsPlugin, type QualtricsPluginOptions } from '../src/index'
import {
  installBeacon,
  loadAnalytics,
  memoryStorage,
  persistedQueues,
  recordingFetch,
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
  setOnline(true)
  await server.stop()
})

function plugin(options: Partial<QualtricsPluginOptions> = {}): Plugin {
  const p = createQualtricsPlugin({
    proxyUrl: server.url,
    writeKey: WRITE_KEY,
    settings: server.settings,
    storage,
    flushIntervalMs: 0,
    ...options,
  })
  plugins.push(p)
  return p
}

const transaction = (n: number, extra: Record<string, unknown> = {}) =>
  ['Transaction Created', { n, ...extra }] as const
const queuedIds = () =>
  Object.values(persistedQueues(storage)).flatMap((v) => v.q.map(([, item]) => item.messageId))

describe('batching', () => {
  it('sends full batches by count, as JSON with keepalive', async () => {
    const rec = recordingFetch()
    const analytics = await loadAnalytics([
      plugin({ batchSize: 2, flushIntervalMs: 60_000, fetch: rec.fetch }),
    ])
    for (let i = 0; i < 4; i++) await analytics.track(...transaction(i))
    await waitFor('4 stored', () => server.stored.length === 4)
    expect(server.batches.map((b) => b.body.items.length)).toEqual([2, 2])
    expect(rec.calls.map((c) => [c.method, c.keepalive, c.contentType])).toEqual([
      ['POST', true, 'application/json'],
      ['POST', true, 'application/json'],
    ])
  })

  it('sends a partial batch once flushIntervalMs has passed', async () => {
    const analytics = await loadAnalytics([plugin({ batchSize: 10, flushIntervalMs: 50 })])
    await analytics.track(...transaction(1))
    await waitFor('stored', () => server.stored.length === 1)
    expect(server.batches[0]!.body.items).toHaveLength(1)
  })

  it('writes each item to storage before sending it, and removes it once the proxy answered', async () => {
    let release!: () => void
    const held = new Promise<undefined>((r) => (release = () => r(undefined)))
    server.fault = () => held
    const analytics = await loadAnalytics([plugin()])
    await analytics.track(...transaction(1), { messageId: 'persist-1' })
    await waitFor('request in flight', () => server.batches.length === 1)
    expect(queuedIds()).toEqual(['persist-1'])
    release()
    await waitFor('stored', () => server.stored.length === 1)
    await waitFor('queue emptied', () => queuedIds().length === 0)
  })
})

describe('page unload', () => {
  it('sends what waits with keepalive text/plain on pagehide, leaving the batch in flight alone', async () => {
    const rec = recordingFetch()
    let release!: () => void
    const held = new Promise<undefined>((r) => (release = () => r(undefined)))
    server.fault = () => (server.batches.length === 1 ? held : undefined)
    const analytics = await loadAnalytics([
      plugin({ batchSize: 2, flushIntervalMs: 60_000, fetch: rec.fetch }),
    ])
    for (let i = 0; i < 2; i++) await analytics.track(...transaction(i))
    await waitFor('first batch in flight', () => server.batches.length === 1)
    for (let i = 2; i < 5; i++) await analytics.track(...transaction(i))

    window.dispatchEvent(new Event('pagehide'))
    const unload = rec.calls.slice(1)
    expect(unload.map((c) => [c.keepalive, c.contentType])).toEqual([
      [true, 'text/plain'],
      [true, 'text/plain'],
    ])
    release()
    await waitFor('all 5 stored', () => server.stored.length === 5)
    expect(server.counts.duplicate).toBe(0)
    await waitFor('nothing left persisted', () => queuedIds().length === 0)
  })

  it('falls back to sendBeacon beyond the keepalive budget; beaconed items stay persisted until confirmed', async () => {
    const beacon = installBeacon()
    try {
      const rec = recordingFetch()
      const analytics = await loadAnalytics([plugin({ fetch: rec.fetch, flushIntervalMs: 60_000 })])
      // Each transaction carries ~25 KB: two requests fill the 64 KiB keepalive budget, the third is beaconed.
      const big = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`k${i}`, 'x'.repeat(1000)]))
      for (let i = 0; i < 3; i++) await analytics.track(...transaction(i, big), { messageId: `big-${i}` })

      window.dispatchEvent(new Event('pagehide'))
      expect(rec.calls.filter((c) => c.keepalive && c.contentType === 'text/plain')).toHaveLength(2)
      expect(beacon.calls).toEqual([`${server.url}/v1/batch`])
      await waitFor('all 3 stored', () => server.stored.length === 3)
      const beaconed = server.batches.find((b) => b.contentType.startsWith('text/plain;charset=UTF-8'))
      expect(beaconed!.body.items.map((i) => i.messageId)).toEqual(['big-2'])

      // The beacon's outcome is unknown to the page: its item stays in the released queue.
      await waitFor('only the beaconed item left', () => queuedIds().join() === 'big-2')
      const [queue] = Object.values(persistedQueues(storage))
      expect(queue).toMatchObject({ r: 1 })

      // The next page adopts it and sends it again: the proxy answers duplicate, nothing is stored twice.
      await loadAnalytics([plugin()])
      await waitFor('re-sent', () => server.counts.duplicate === 1)
      expect(server.stored).toHaveLength(3)
      await waitFor('queue emptied', () => queuedIds().length === 0)
    } finally {
      beacon.uninstall()
    }
  })

  it('flushes on visibilitychange to hidden without releasing the queue', async () => {
    const rec = recordingFetch()
    const analytics = await loadAnalytics([plugin({ fetch: rec.fetch, flushIntervalMs: 60_000 })])
    await analytics.track(...transaction(1))
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' })
    try {
      document.dispatchEvent(new Event('visibilitychange'))
    } finally {
      delete (document as { visibilityState?: unknown }).visibilityState
    }
    expect(rec.calls.map((c) => [c.keepalive, c.contentType])).toEqual([[true, 'text/plain']])
    await waitFor('stored', () => server.stored.length === 1)
    // Still owned by this page: the next event is sent by it.
    await analytics.track(...transaction(2))
    document.dispatchEvent(new Event('visibilitychange'))
    await waitFor('second stored', () => server.stored.length === 2)
  })
})

describe('offline and failures', () => {
  it('retries what a failed hide-time send left behind, with no further event needed', async () => {
    const { lines, logger } = recordingLogger()
    const analytics = await loadAnalytics([plugin({ flushIntervalMs: 60_000, debug: logger })])
    await analytics.track(...transaction(1))
    await server.stop()
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' })
    try {
      document.dispatchEvent(new Event('visibilitychange'))
    } finally {
      delete (document as { visibilityState?: unknown }).visibilityState
    }
    await waitFor('the hide-time send failed', () => lines.some((l) => l.includes('to be retried')))
    await server.start()
    await waitFor('stored', () => server.stored.length === 1)
  })

  it('holds items while navigator.onLine is false and sends them on "online"', async () => {
    const { lines, logger } = recordingLogger()
    const analytics = await loadAnalytics([plugin({ debug: logger })])
    setOnline(false)
    await analytics.track(...transaction(1), { messageId: 'offline-1' })
    await waitFor('the plugin noticed', () => lines.includes('[Qualtrics] offline'))
    expect(server.batches).toHaveLength(0)
    expect(queuedIds()).toEqual(['offline-1'])
    setOnline(true)
    await waitFor('stored', () => server.stored.length === 1)
  })

  it('retries while the proxy is down and delivers once it is back', async () => {
    const { lines, logger } = recordingLogger()
    const analytics = await loadAnalytics([plugin({ debug: logger })])
    await server.stop()
    await analytics.track(...transaction(1))
    await analytics.identify('user-1', { email: 'a@example.com' })
    await waitFor('a failed attempt', () => lines.some((l) => l.includes('to be retried')))
    await server.start()
    await waitFor('both stored', () => server.stored.length === 2)
    expect(server.counts).toEqual({ accepted: 2, duplicate: 0, rejected: 0 })
  })

  it('retries 5xx and 429 (after Retry-After) and delivers once', async () => {
    const answers = [{ status: 503 }, { status: 429, headers: { 'Retry-After': '1' } }]
    server.fault = () => answers.shift()
    const { lines, logger } = recordingLogger()
    const analytics = await loadAnalytics([plugin({ debug: logger })])
    await analytics.track(...transaction(1))
    await waitFor('stored', () => server.stored.length === 1)
    expect(server.batches).toHaveLength(3)
    expect(lines.filter((l) => l.includes('to be retried in 1000 ms'))).toHaveLength(1)
  })

  it('treats per-item rejections as final: reported on the ctx and analytics "error", never retried', async () => {
    server.fault = () => ({
      reject: (item) =>
        item.messageId === 'bad-1' ? { code: 'NOT_ALLOWED', message: 'directory not allowed' } : undefined,
    })
    const analytics = await loadAnalytics([plugin({ batchSize: 2, flushIntervalMs: 60_000 })])
    const errors: { code: string; reason: Error }[] = []
    analytics.on('error', (e: { code: string; reason: Error }) => void errors.push(e))
    const bad = await analytics.track(...transaction(1), { messageId: 'bad-1' })
    await analytics.track(...transaction(2), { messageId: 'good-1' })
    await waitFor('rejection reported', () => bad.failedDelivery())
    expect((bad.failedDelivery()!.reason as Error).message).toMatchInlineSnapshot(
      `"Qualtrics did not get bad-1, mapping purchase: the proxy rejected it (NOT_ALLOWED: directory not allowed)"`,
    )
    expect(errors.map((e) => e.code)).toEqual(['delivery_failure'])
    server.fault = undefined
    await analytics.track(...transaction(3), { messageId: 'later-1' })
    await analytics.track(...transaction(4), { messageId: 'later-2' })
    await waitFor('later ones stored', () => server.stored.length === 3)
    expect(server.batches.flatMap((b) => b.body.items.map((i) => i.messageId))).toEqual([
      'bad-1',
      'good-1',
      'later-1',
      'later-2',
    ])
  })

  it('treats a 4xx refusal of the whole batch as final', async () => {
    server.fault = () => ({ status: 403, body: { error: { code: 'ORIGIN_NOT_ALLOWED', message: 'no' } } })
    const analytics = await loadAnalytics([plugin()])
    const ctx = await analytics.track(...transaction(1), { messageId: 'refused-1' })
    await waitFor('refusal reported', () => ctx.failedDelivery())
    expect((ctx.failedDelivery()!.reason as Error).message).toMatchInlineSnapshot(
      `"Qualtrics did not get refused-1, mapping purchase: the proxy refused the batch (HTTP 403 ORIGIN_NOT_ALLOWED: no)"`,
    )
    expect(queuedIds()).toEqual([])
    expect(server.batches).toHaveLength(1)
  })
})
