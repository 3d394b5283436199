// The plugin inside a real analytics-next: settings, mapping, failures, consent, integrations, duplicates.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AnalyticsBrowser, type Analytics, type Plugin } from '@segment/analytics-next'
import { SETTINGS_VERSION } from '@qualtrics-relay/core'
import { createQualtricsPlugin, type QualtricsPluginOptions } from '../src/index'
import {
  loadAnalytics,
  memoryStorage,
  OFFLINE_CDN_SETTINGS,
  recordingLogger,
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

function plugin(options: Partial<QualtricsPluginOptions> = {}): Plugin {
  const p = createQualtricsPlugin({
    proxyUrl: server.url,
    writeKey: WRITE_KEY,
    storage,
    flushIntervalMs: 0,
    ...options,
  })
  plugins.push(p)
  return p
}

const order = { orderId: 'o-1', total: 42 }

/** A fetch whose settings requests wait until `release()`: the settings arrive late. */
function heldSettings(): { slowFetch: typeof fetch; release: () => void } {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const slowFetch: typeof fetch = async (input, init) => {
    if (String(input).includes('/v1/settings')) await gate
    return fetch(input, init)
  }
  return { slowFetch, release }
}

describe('inside analytics-next', () => {
  it('is a destination named exactly "Qualtrics"', () => {
    const p = plugin()
    expect({ name: p.name, type: p.type, version: p.version }).toEqual({
      name: 'Qualtrics',
      type: 'destination',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    })
  })

  it('keeps events made before the settings arrive and delivers them once they do', async () => {
    const { slowFetch, release } = heldSettings()
    const analytics = await loadAnalytics([plugin({ fetch: slowFetch })])
    const calls = [
      analytics.identify('user-1', { email: 'ada@example.com' }),
      analytics.track('Transaction Created', order),
    ]
    expect(server.stored).toHaveLength(0)
    release()
    await Promise.all(calls)
    await waitFor('both items stored', () => server.stored.length === 2)
    expect(server.stored.map((i) => [i.mapping, i.action])).toEqual([
      ['contact', 'addContactToXmd'],
      ['purchase', 'upsertContactTransaction'],
    ])
  })

  it('does not hold analytics.track() while the settings are late, and still delivers the event', async () => {
    const { slowFetch, release } = heldSettings()
    const analytics = await loadAnalytics([plugin({ fetch: slowFetch })])
    const ctx = await analytics.track('Transaction Created', order) // resolves with the settings still held
    expect(ctx.failedDelivery()).toBeUndefined()
    expect(server.batches).toHaveLength(0)
    release()
    await waitFor('stored', () => server.stored.length === 1)
  })

  it('gets the calls buffered before AnalyticsBrowser.load() when passed in plugins', async () => {
    const browser = new AnalyticsBrowser()
    const call = browser.identify('user-2', { email: 'grace@example.com' })
    void browser.load(
      { writeKey: 'segment-test', cdnSettings: OFFLINE_CDN_SETTINGS, plugins: [plugin()] },
      { integrations: { 'Segment.io': false }, disableClientPersistence: true },
    )
    await call
    await waitFor('contact stored', () => server.stored.length === 1)
    expect(server.stored[0]!.payload).toMatchObject({
      directoryId: 'POOL_abc123',
      extRef: 'user-2',
      email: 'grace@example.com',
    })
  })

  it('sends only copies: the shared ctx.event is left untouched', async () => {
    const analytics = await loadAnalytics([plugin()])
    const ctx = await analytics.track(
      'Transaction Created',
      { ...order, nested: { a: 1 } },
      { messageId: 'fixed-1' },
    )
    const before = JSON.stringify(ctx.event)
    await waitFor('stored', () => server.stored.length === 1)
    expect(JSON.stringify(ctx.event)).toBe(before)
    expect(server.stored[0]).toMatchObject({ messageId: 'fixed-1', mapping: 'purchase' })
  })

  it('caches the settings and revalidates them with If-None-Match on the next load', async () => {
    const first = await loadAnalytics([plugin()])
    await first.identify('user-3', { email: 'x@example.com' })
    await waitFor('stored', () => server.stored.length === 1)
    expect(storage.getItem(`qr:${WRITE_KEY}:s2`)).toContain('"mappings"')

    // A second page: settings come from the cache at once, then the proxy answers 304.
    const second = await loadAnalytics([plugin()])
    await second.identify('user-4', { email: 'y@example.com' })
    await waitFor('stored', () => server.stored.length === 2)
    await waitFor('revalidated', () => server.settingsRequests.length === 2)
    expect(server.settingsRequests.map((r) => r.status)).toEqual([200, 304])
    expect(server.settingsRequests[1]!.ifNoneMatch).toMatch(/^"v\d+"$/)
  })

  it('ignores settings cached by an older plugin (another format) and asks the proxy plainly', async () => {
    // The old key and format: `qr:<writeKey>:s` = { e: etag, s: settings }, here with a mapping that sends
    // identify to a mapping the proxy does not have.
    const old = settingsFixture([
      { id: 'old', action: 'addContactToXmd', fields: { directoryId: 'POOL_old' } },
    ])
    storage.setItem(`qr:${WRITE_KEY}:s`, JSON.stringify({ e: '"v1"', s: old }))
    const analytics = await loadAnalytics([plugin()])
    await analytics.identify('user-old', { email: 'o@example.com' })
    await waitFor('stored', () => server.stored.length === 1)
    expect(server.stored[0]).toMatchObject({ mapping: 'contact', payload: { directoryId: 'POOL_abc123' } })
    expect(server.settingsRequests).toEqual([{ ifNoneMatch: undefined, status: 200 }])
  })

  it('refuses settings of another format version, served or cached, with a message that says so', async () => {
    const cached = { ...settingsFixture(), version: SETTINGS_VERSION - 1 }
    storage.setItem(`qr:${WRITE_KEY}:s2`, JSON.stringify({ e: '"old"', s: cached }))
    server.settings = { ...server.settings, version: SETTINGS_VERSION + 1 }
    const analytics = await loadAnalytics([plugin()])
    const ctx = await analytics.identify('user-v', { email: 'v@example.com' })
    const reason = ctx.failedDelivery()?.reason as Error
    expect(reason.message.replace(server.url, '<proxy>')).toBe(
      `Qualtrics settings could not be loaded from <proxy>/v1/settings (Received: HTTP 200, settings version ${SETTINGS_VERSION + 1}; this plugin reads version ${SETTINGS_VERSION})`,
    )
    // The cached copy of the other version was not used: no If-None-Match, nothing mapped or sent.
    expect(server.settingsRequests).toEqual([{ ifNoneMatch: undefined, status: 200 }])
    expect(server.batches).toEqual([])
  })

  it('reports an unknown write key on the ctx instead of waiting forever', async () => {
    const analytics = await loadAnalytics([plugin({ writeKey: 'wk_unknown_key' })])
    const ctx = await analytics.track('Transaction Created', order)
    const reason = ctx.failedDelivery()?.reason as Error
    expect(reason.message.replace(server.url, '<proxy>')).toMatchInlineSnapshot(
      `"Qualtrics settings could not be loaded from <proxy>/v1/settings (Received: HTTP 404 UNKNOWN_WRITE_KEY: unknown write key)"`,
    )
  })

  it('drops cached settings the proxy now refuses (write key removed), and fails events from then on', async () => {
    storage.setItem('qr:wk_removed:s2', JSON.stringify({ e: '"v1"', s: settingsFixture() }))
    const { lines, logger } = recordingLogger()
    const analytics = await loadAnalytics([plugin({ writeKey: 'wk_removed', debug: logger })])
    await waitFor('the refusal', () => lines.some((l) => l.includes('could not be loaded')))
    const ctx = await analytics.identify('user-gone', { email: 'gone@example.com' })
    expect((ctx.failedDelivery()?.reason as Error).message).toContain('(Received: HTTP 404')
    expect(server.batches).toEqual([])
  })

  it('sets failedDelivery at once when a mapped payload fails validation, and sends nothing for it', async () => {
    const analytics = await loadAnalytics([plugin()])
    // No userId, no email, no phone: the contact cannot be identified.
    const ctx = await analytics.identify({ plan: 'pro' })
    const reason = ctx.failedDelivery()?.reason as Error & { code: string; issues: { path: string }[] }
    expect(reason.code).toBe('PAYLOAD_INVALID')
    // The issue text is core's; the plugin names the event and prefixes each path with the mapping id.
    expect(reason.issues.map((i) => i.path)).toEqual(['contact.extRef'])
    expect(reason.message).toMatch(
      /^Qualtrics could not map the identify event\n {2}- contact\.extRef: .*email or phone/,
    )
    await analytics.identify('user-5', { email: 'z@example.com' })
    await waitFor('the valid one stored', () => server.stored.length === 1)
    expect(server.stored[0]!.payload).toMatchObject({ extRef: 'user-5' })
  })

  it('emits failures on analytics "error" with code delivery_failure', async () => {
    const analytics = await loadAnalytics([plugin()])
    const errors: { code: string }[] = []
    analytics.on('error', (e: { code: string }) => void errors.push(e))
    await analytics.identify({ plan: 'pro' })
    expect(errors.map((e) => e.code)).toEqual(['delivery_failure'])
  })

  it('returns the ctx and costs no request for an event no mapping wants', async () => {
    const { lines, logger } = recordingLogger()
    const analytics = await loadAnalytics([plugin({ debug: logger })])
    const ctx = await analytics.track('Page Scrolled', { depth: 50 })
    expect(ctx.failedDelivery()).toBeUndefined()
    expect(lines.some((l) => l.includes('track mapped'))).toBe(true)
    await analytics.identify('user-6', { email: 'q@example.com' })
    await waitFor('stored', () => server.stored.length === 1)
    expect(server.batches.flatMap((b) => b.body.items.map((i) => i.mapping))).toEqual(['contact'])
  })

  it('skips the plugin when integrations says { Qualtrics: false }, at load or per call', async () => {
    const atLoad = await loadAnalytics([plugin()], {
      integrations: { 'Segment.io': false, Qualtrics: false },
    })
    await atLoad.identify('user-7', { email: 'a@example.com' })
    const perCall = await loadAnalytics([plugin()])
    await perCall.identify('user-8', { email: 'b@example.com' }, { integrations: { Qualtrics: false } })
    await perCall.identify('user-9', { email: 'c@example.com' })
    await waitFor('the enabled one stored', () => server.stored.length === 1)
    expect(server.stored.map((i) => i.payload.extRef)).toEqual(['user-9'])
  })

  it('is kept by { All: false, Qualtrics: true }', async () => {
    const analytics = await loadAnalytics([plugin()], { integrations: { All: false, Qualtrics: true } })
    await analytics.identify('user-10', { email: 'd@example.com' })
    await waitFor('stored', () => server.stored.length === 1)
  })

  it('sends nothing when a configured consent category is not granted', async () => {
    const analytics = await loadAnalytics([plugin({ consentCategories: ['Analytics', 'Surveys'] })])
    const consent = (Surveys: boolean) => ({
      context: { consent: { categoryPreferences: { Analytics: true, Surveys } } },
    })
    const denied = await analytics.identify('user-11', { email: 'e@example.com' }, consent(false))
    await analytics.identify('user-12', { email: 'f@example.com' }, consent(true))
    await analytics.identify('user-13', { email: 'g@example.com' }) // no consent data on the event: sent
    await waitFor('two stored', () => server.stored.length === 2)
    expect(server.stored.map((i) => i.payload.extRef)).toEqual(['user-12', 'user-13'])
    expect(denied.failedDelivery()).toBeUndefined()
  })

  it('sends an event repeated with the same messageId once', async () => {
    const analytics = await loadAnalytics([plugin({ batchSize: 5, flushIntervalMs: 60_000 })])
    for (let i = 0; i < 3; i++) await analytics.track('Transaction Created', order, { messageId: 'same-id' })
    await analytics.track('Transaction Created', order, { messageId: 'other-id' })
    for (let i = 0; i < 3; i++)
      await analytics.identify('user-14', { email: 'h@example.com' }, { messageId: `id-${i}` })
    await waitFor('a batch of 5', () => server.batches.length === 1)
    expect(server.batches[0]!.body.items.map((i) => `${i.messageId}/${i.mapping}`)).toEqual([
      'same-id/purchase',
      'other-id/purchase',
      'id-0/contact',
      'id-1/contact',
      'id-2/contact',
    ])
  })

  it('sends identify → contact, Transaction Created → transaction and a workflow trigger → workflow', async () => {
    const analytics: Analytics = await loadAnalytics([plugin({ batchSize: 3, flushIntervalMs: 60_000 })])
    await analytics.identify('user-15', { email: 'i@example.com', firstName: 'Ida' })
    await analytics.track('Transaction Created', order)
    await analytics.track('Survey Requested', { survey: 'nps' })
    await waitFor('three stored', () => server.stored.length === 3)
    expect(server.batches).toHaveLength(1)
    expect(server.batches[0]!.body).toMatchObject({ writeKey: WRITE_KEY, sentAt: expect.any(String) })
    expect(server.stored.map((i) => i.action)).toEqual([
      'addContactToXmd',
      'upsertContactTransaction',
      'triggerXflowWorkflow',
    ])
    expect(server.stored[2]!.payload).toMatchObject({
      eventPayload: { event: 'Survey Requested', properties: { survey: 'nps' } },
    })
  })
})
