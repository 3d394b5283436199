// End to end: a real analytics-next (offline) with the plugin, the real proxy, and the real sandbox
// behind it, all on 127.0.0.1 port 0. The plugin loads its settings from the proxy.
import { Writable } from 'node:stream'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig, startServer, type RunningServer } from '@qualtrics-relay/proxy'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import type { Plugin } from '@segment/analytics-next'
import { createQualtricsPlugin, type QualtricsPluginOptions } from '../src/index'
import {
  installBeacon,
  loadAnalytics,
  memoryStorage,
  persistedQueues,
  recordingLogger,
  waitFor,
} from './support/harness'

const WRITE_KEY = 'wk_browser_e2e'
const FAST = {
  transactionLingerMs: 5,
  retryBaseMs: 10,
  retryMaxMs: 200,
  pollIntervalMs: 20,
  requestTimeoutMs: 2000,
}

const mappings = (ids: { directoryId: string; mailingListId: string; workflowUrl: string }) => [
  { id: 'contact', action: 'addContactToXmd', fields: { directoryId: ids.directoryId } },
  {
    id: 'purchase',
    action: 'upsertContactTransaction',
    fields: { directoryId: ids.directoryId, mailingListId: ids.mailingListId },
  },
  {
    id: 'feedback',
    action: 'triggerXflowWorkflow',
    trigger: 'type = "track" and event = "Feedback Requested"',
    fields: { workflowUrl: ids.workflowUrl },
  },
]

const quiet = () => new Writable({ write: (_chunk, _enc, done) => done() })

function fileConfig(extra: Record<string, unknown>, ids: Parameters<typeof mappings>[0]) {
  return JSON.stringify({
    server: { port: 0, host: '127.0.0.1' },
    storage: { path: ':memory:' },
    delivery: FAST,
    rateLimits: { perIp: false, perWriteKey: false },
    writeKeys: { [WRITE_KEY]: { name: 'Browser e2e', origins: ['*'], mappings: mappings(ids) } },
    ...extra,
  })
}

const plugins: Plugin[] = []
function plugin(proxyUrl: string, options: Partial<QualtricsPluginOptions> = {}): Plugin {
  const p = createQualtricsPlugin({
    proxyUrl,
    writeKey: WRITE_KEY,
    storage: memoryStorage(),
    flushIntervalMs: 0,
    ...options,
  })
  plugins.push(p)
  return p
}
afterEach(async () => {
  for (const p of plugins.splice(0)) await p.unload?.(undefined as never, undefined as never)
})

describe('with the proxy in sandbox mode', () => {
  let proxy: RunningServer
  let sandbox: RunningSandbox
  beforeAll(async () => {
    const placeholders = {
      directoryId: '$sandbox.directoryId',
      mailingListId: '$sandbox.mailingListId',
      workflowUrl: '$sandbox.workflowUrl',
    }
    const config = parseConfig(
      {},
      fileConfig({ mode: 'sandbox', sandbox: { port: 0, host: '127.0.0.1' } }, placeholders),
      'e2e',
    )
    proxy = await startServer(config, { logDestination: quiet(), processMetrics: false, closeGraceMs: 2000 })
    sandbox = proxy.sandbox!
  })
  afterAll(() => proxy.close())

  it('identify → contact, Transaction Created → transaction, Feedback Requested → workflow run', async () => {
    const analytics = await loadAnalytics([plugin(proxy.url)])
    // Sent straight after load: the plugin is still fetching its settings from the proxy.
    await Promise.all([
      analytics.identify('user-e2e-1', { email: 'ada@example.com', firstName: 'Ada' }),
      analytics.track(
        'Transaction Created',
        { orderId: 'o-1', total: 42 },
        { context: { traits: { email: 'ada@example.com' } } },
      ),
      analytics.track('Feedback Requested', { survey: 'nps' }),
    ])
    const done = await waitFor('contact, transaction and workflow run in the sandbox', () => {
      const s = sandbox.inspect()
      const contact = s.contacts.find((c) => c.extRef === 'user-e2e-1')
      const transaction = s.transactions.find((t) => t.data.orderId === 'o-1')
      const run = s.workflowRuns.find((r) => (r.payload as { userId?: string }).userId === 'user-e2e-1')
      return contact && transaction && run && { contact, transaction, run }
    })
    expect(done.contact).toMatchObject({
      email: 'ada@example.com',
      firstName: 'Ada',
      directoryId: sandbox.directoryId,
    })
    expect(done.transaction).toMatchObject({
      mailingListId: sandbox.mailingListId,
      data: { orderId: 'o-1', total: 42 },
    })
    expect(done.run.payload).toMatchObject({ event: 'Feedback Requested', properties: { survey: 'nps' } })
  })

  it('reports the status of each mapping through GET /v1/messages/:id', async () => {
    const analytics = await loadAnalytics([plugin(proxy.url)])
    await analytics.identify('user-e2e-2', { email: 'grace@example.com' }, { messageId: 'e2e-status-1' })
    const status = await waitFor('delivered', async () => {
      const res = await fetch(`${proxy.url}/v1/messages/e2e-status-1?writeKey=${WRITE_KEY}`)
      const body = res.ok
        ? ((await res.json()) as { items: { mapping: string; state: string }[] })
        : undefined
      return body?.items.every((i) => i.state === 'delivered') ? body : undefined
    })
    expect(status.items.map((i) => i.mapping)).toEqual(['contact'])
  })

  it('on pagehide mid-batch, keepalive and beacon requests (text/plain) reach Qualtrics once', async () => {
    const beacon = installBeacon()
    try {
      const storage = memoryStorage()
      const analytics = await loadAnalytics([plugin(proxy.url, { storage, flushIntervalMs: 60_000 })])
      const big = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`k${i}`, 'x'.repeat(1000)]))
      for (let i = 0; i < 3; i++) {
        await analytics.track(
          'Transaction Created',
          { orderId: `unload-${i}`, ...big },
          { messageId: `unload-${i}` },
        )
      }
      window.dispatchEvent(new Event('pagehide'))
      expect(beacon.calls).toHaveLength(1)
      await waitFor(
        '3 transactions',
        () =>
          sandbox.inspect().transactions.filter((t) => String(t.data.orderId).startsWith('unload-'))
            .length === 3,
      )

      // The next page re-sends the beaconed item (its fate was unknown): the proxy answers duplicate.
      const { lines, logger } = recordingLogger()
      await loadAnalytics([plugin(proxy.url, { storage, debug: logger })])
      await waitFor('re-sent and answered', () => lines.some((l) => l.includes('batch of 1 answered')))
      await waitFor('queue empty', () => Object.keys(persistedQueues(storage)).length === 0)
      const s = sandbox.inspect()
      expect(s.transactions.filter((t) => String(t.data.orderId).startsWith('unload-'))).toHaveLength(3)
      expect(Object.values(s.transactionKeyCounts).every((n) => n === 1)).toBe(true)
    } finally {
      beacon.uninstall()
    }
  })

  it('a repeated messageId is delivered once even across plugin instances (the proxy deduplicates)', async () => {
    const first = await loadAnalytics([plugin(proxy.url)])
    await first.track('Transaction Created', { orderId: 'dup-1' }, { messageId: 'e2e-dup-1' })
    await first.track('Transaction Created', { orderId: 'dup-1' }, { messageId: 'e2e-dup-1' })
    const { lines, logger } = recordingLogger()
    const second = await loadAnalytics([plugin(proxy.url, { debug: logger })])
    await second.track('Transaction Created', { orderId: 'dup-1' }, { messageId: 'e2e-dup-1' })
    await waitFor('second answered', () => lines.some((l) => l.includes('answered')))
    await waitFor('delivered', () => sandbox.inspect().transactions.some((t) => t.data.orderId === 'dup-1'))
    expect(sandbox.inspect().transactions.filter((t) => t.data.orderId === 'dup-1')).toHaveLength(1)
  })

  it('a validation failure is set on the ctx and nothing reaches the proxy', async () => {
    const analytics = await loadAnalytics([plugin(proxy.url)])
    const bad = await analytics.identify({ plan: 'pro' })
    expect((bad.failedDelivery()?.reason as { code: string }).code).toBe('PAYLOAD_INVALID')
    const sent = sandbox.inspect().contacts.length
    await analytics.identify('user-e2e-3', { email: 'valid@example.com' })
    await waitFor('the valid one delivered', () => sandbox.inspect().contacts.length === sent + 1)
  })

  it('a payload only the proxy can refuse (data over its limits) is reported on the ctx and as an error event', async () => {
    // The browser runs the field checks; data limits, workflow hosts and size are checked by the proxy,
    // which answers the item `rejected`: the plugin reports that on the event's ctx, then drops it.
    const analytics = await loadAnalytics([plugin(proxy.url, { flushIntervalMs: 0 })])
    const errors: { code: string; reason: { code: string; message: string } }[] = []
    analytics.on('error', (e: (typeof errors)[number]) => void errors.push(e))
    await analytics.identify('user-e2e-big', { email: 'big@example.com' })
    const ctx = await analytics.track('Transaction Created', { orderId: 'big-1', note: 'x'.repeat(2000) })
    await waitFor('the proxy answered', () => errors.length > 0)
    expect(errors[0]?.code).toBe('delivery_failure')
    expect(errors[0]?.reason.message).toContain(
      'payload.transactionData.note: must be a finite number, a boolean, or at most 1024 characters',
    )
    expect((ctx.failedDelivery()?.reason as { message: string }).message).toContain('transactionData.note')
    expect(sandbox.inspect().transactions.some((t) => t.data.orderId === 'big-1')).toBe(false)
  })

  it('dates and Qualtrics ids are checked by the proxy: a bad one is rejected naming the field, the rest of its batch delivered', async () => {
    // The browser checks types and required fields only; the id forms and the date (and its formatting
    // for Qualtrics) are the proxy's, so these items travel in one batch with a valid one.
    const { lines, logger } = recordingLogger()
    const analytics = await loadAnalytics([
      plugin(proxy.url, { batchSize: 3, flushIntervalMs: 60_000, debug: logger }),
    ])
    const errors: { code: string; reason: { message: string } }[] = []
    analytics.on('error', (e: (typeof errors)[number]) => void errors.push(e))
    await analytics.identify('user-e2e-formats', { email: 'formats@example.com' })
    const badDate = await analytics.track(
      'Transaction Created',
      { orderId: 'formats-date' },
      { timestamp: 'the day after tomorrow' as unknown as Date },
    )
    const badId = await analytics.track(
      'Transaction Created',
      { orderId: 'formats-id' },
      { context: { traits: { qualtricsContactId: 'CID_not/an/id' } } },
    )
    await analytics.track(
      'Transaction Created',
      { orderId: 'formats-ok' },
      { timestamp: new Date('2025-03-04T05:06:07.890Z') },
    )
    await waitFor('the batch answered', () => lines.some((l) => l.includes('batch of 3 answered')))
    const messages = errors.map((e) => e.reason.message)
    expect(messages).toEqual([
      expect.stringContaining(
        'the proxy rejected it (PAYLOAD_INVALID: Invalid upsertContactTransaction payload: ' +
          'payload.transactionDate must be a date, e.g. an ISO 8601 string (Received: "the day after tomorrow"))',
      ),
      expect.stringContaining(
        'payload.contactId must be a Qualtrics id like CID_… (Received: "CID_not/an/id")',
      ),
    ])
    expect((badDate.failedDelivery()?.reason as Error).message).toBe(messages[0])
    expect((badId.failedDelivery()?.reason as Error).message).toBe(messages[1])
    const ok = await waitFor('the valid one delivered', () =>
      sandbox.inspect().transactions.find((t) => t.data.orderId === 'formats-ok'),
    )
    // Formatted by the proxy exactly as the browser used to: UTC, to the second.
    expect(ok.transactionDate).toBe('2025-03-04 05:06:07')
    expect(
      sandbox.inspect().transactions.filter((t) => String(t.data.orderId).startsWith('formats-')),
    ).toEqual([ok])
  })
})

describe('with the proxy going down and coming back', () => {
  let sandbox: RunningSandbox
  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, host: '127.0.0.1' })
  })
  afterAll(() => sandbox.close())

  it('keeps the items while the proxy is down and delivers them once it is back on the same port', async () => {
    const env = { QUALTRICS_API_TOKEN: sandbox.token, QUALTRICS_BASE_URL: sandbox.url }
    const start = (port: number) =>
      startServer(parseConfig(env, fileConfig({ server: { port, host: '127.0.0.1' } }, sandbox), 'e2e'), {
        logDestination: quiet(),
        processMetrics: false,
        closeGraceMs: 500,
      })
    let proxy = await start(0)
    const port = Number(new URL(proxy.url).port)
    try {
      const { lines, logger } = recordingLogger()
      const analytics = await loadAnalytics([plugin(proxy.url, { debug: logger })])
      await analytics.identify('user-down-1', { email: 'down@example.com' }) // loads the settings
      await waitFor('first contact', () => sandbox.inspect().contacts.some((c) => c.extRef === 'user-down-1'))

      await proxy.close()
      await analytics.track('Transaction Created', { orderId: 'while-down' })
      await waitFor('a failed attempt', () => lines.some((l) => l.includes('to be retried')))
      proxy = await start(port)
      await waitFor('transaction delivered', () =>
        sandbox.inspect().transactions.some((t) => t.data.orderId === 'while-down'),
      )
    } finally {
      await proxy.close()
    }
  })
})
