// Direct mode end to end: a real analytics-node instance with the plugin, core's delivery engine, and the
// sandbox on port 0 standing in for Qualtrics.
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import type { Analytics } from '@segment/analytics-node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  createQualtricsNodePlugin,
  QualtricsDeliveryError,
  type QualtricsNodePlugin,
} from '@qualtrics-relay/node-plugin'
import {
  collectErrors,
  FAST_DELIVERY,
  identify,
  offlineAnalytics,
  requestsTo,
  sandboxMappings,
  track,
} from './helpers'

let sandbox: RunningSandbox
let analytics: Analytics
let plugin: QualtricsNodePlugin | undefined

beforeAll(async () => {
  sandbox = await startSandbox()
})
afterAll(async () => {
  await sandbox.close()
})
beforeEach(() => {
  sandbox.reset()
  analytics = offlineAnalytics()
})
afterEach(async () => {
  await analytics.closeAndFlush({ timeout: 5_000 })
  await plugin?.close({ timeoutMs: 5_000 }).catch(() => undefined)
  plugin = undefined
})

async function withPlugin(extra: Record<string, unknown> = {}): Promise<QualtricsNodePlugin> {
  plugin = createQualtricsNodePlugin({
    apiToken: sandbox.token,
    baseUrl: sandbox.url,
    mappings: sandboxMappings(sandbox),
    delivery: FAST_DELIVERY,
    ...extra,
  })
  await analytics.register(plugin)
  return plugin
}

const purchase = (userId: string, messageId: string, total: number) => ({
  userId,
  messageId,
  event: 'Transaction Created',
  properties: { total, currency: 'EUR' },
})

describe('direct mode', () => {
  it('creates the contact of an identify call in the directory', async () => {
    const p = await withPlugin()
    const { err } = await identify(analytics, {
      userId: 'user-1',
      traits: { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' },
    })
    expect(err).toBeUndefined()
    await p.flush()

    const contacts = sandbox.inspect().contacts.filter((c) => c.extRef === 'user-1')
    expect(contacts).toEqual([
      expect.objectContaining({
        directoryId: sandbox.directoryId,
        email: 'ann@example.com',
        firstName: 'Ann',
        lastName: 'Lee',
        language: 'EN',
      }),
    ])
  })

  it('batches transactions and writes one per messageId, however often the event is tracked', async () => {
    const p = await withPlugin()
    const calls = []
    for (let i = 0; i < 12; i++) calls.push(track(analytics, purchase(`user-${i % 3}`, `order-${i}`, i)))
    // The same events again, as a retrying caller would send them.
    calls.push(
      track(analytics, purchase('user-0', 'order-0', 0)),
      track(analytics, purchase('user-1', 'order-4', 4)),
    )
    const outcomes = await Promise.all(calls)
    expect(outcomes.map((o) => o.err)).toEqual(outcomes.map(() => undefined))
    await p.flush()
    // And once more after delivery.
    await track(analytics, purchase('user-2', 'order-5', 5))
    await p.flush()

    const snapshot = sandbox.inspect()
    expect(snapshot.transactions).toHaveLength(12)
    expect(Object.values(snapshot.transactionKeyCounts).every((n) => n === 1)).toBe(true)
    expect(new Set(snapshot.transactions.map((t) => t.data.total))).toEqual(new Set([...Array(12).keys()]))
    // Three users, so three contacts, and far fewer transaction requests than events.
    expect(snapshot.contacts.map((c) => c.extRef).sort()).toEqual(['user-0', 'user-1', 'user-2'])
    expect(requestsTo(sandbox, 'createTransactions').length).toBeLessThan(12)
  })

  it('starts the workflow whose trigger matches, with the default event payload', async () => {
    const p = await withPlugin()
    await track(analytics, {
      userId: 'user-7',
      event: 'Feedback Requested',
      properties: { reason: 'checkout' },
    })
    await track(analytics, { userId: 'user-7', event: 'Product Viewed', properties: { sku: 'A1' } })
    await p.flush()

    const runs = sandbox.inspect().workflowRuns
    expect(runs).toHaveLength(1)
    expect(runs[0]?.payload).toMatchObject({
      event: 'Feedback Requested',
      type: 'track',
      userId: 'user-7',
      properties: { reason: 'checkout' },
    })
  })

  it('does not touch events whose trigger matches no mapping, nor events with its integration off', async () => {
    const p = await withPlugin()
    await track(analytics, { userId: 'user-8', event: 'Product Viewed' })
    await track(analytics, { ...purchase('user-8', 'order-off', 1), integrations: { Qualtrics: false } })
    await p.flush()
    expect(sandbox.inspect().requests).toEqual([])
  })

  it('recovers from 429s and delivers every transaction once', async () => {
    sandbox.setFaults([{ kind: 'rate-limit', route: 'createTransactions', times: 2, retryAfterSeconds: 1 }])
    const p = await withPlugin()
    await Promise.all([1, 2, 3, 4].map((i) => track(analytics, purchase('user-r', `rl-${i}`, i))))
    await p.flush()

    expect(requestsTo(sandbox, 'createTransactions')).toContain(429)
    const snapshot = sandbox.inspect()
    expect(snapshot.transactions).toHaveLength(4)
    expect(Object.values(snapshot.transactionKeyCounts)).toEqual([1, 1, 1, 1])
  })

  it('recovers from 5xx answers, including a 504 after the write, without duplicates', async () => {
    sandbox.setFaults([
      { kind: 'http-error', status: 503, route: 'createContact', times: 1 },
      { kind: 'http-error', status: 504, route: 'createTransactions', times: 1, afterWrite: true },
      { kind: 'http-error', status: 500, route: 'triggerWorkflow', times: 1 },
    ])
    const p = await withPlugin()
    await identify(analytics, { userId: 'user-5', traits: { email: 'eve@example.com' } })
    await Promise.all([1, 2, 3].map((i) => track(analytics, purchase('user-5', `5xx-${i}`, i))))
    await track(analytics, { userId: 'user-5', event: 'Feedback Requested' })
    await p.flush()

    const snapshot = sandbox.inspect()
    expect(requestsTo(sandbox, 'createTransactions')).toContain(504)
    expect(snapshot.transactions).toHaveLength(3)
    expect(Object.values(snapshot.transactionKeyCounts)).toEqual([1, 1, 1])
    expect(snapshot.workflowRuns).toHaveLength(1)
    expect(snapshot.contacts.filter((c) => c.extRef === 'user-5')).toHaveLength(1)
  })

  it('with waitForDelivery, the callback fires only once Qualtrics has the data', async () => {
    await withPlugin({ waitForDelivery: true })
    const { err } = await track(analytics, purchase('user-w', 'wait-1', 9))
    expect(err).toBeUndefined()
    expect(sandbox.inspect().transactions.map((t) => t.data.total)).toEqual([9])
  })

  it('reports a mapping that cannot be applied as an analytics error, and sends nothing for it', async () => {
    await withPlugin({
      mappings: [
        {
          id: 'purchase',
          action: 'upsertContactTransaction',
          fields: { directoryId: sandbox.directoryId, mailingListId: { '@path': '$.properties.list' } },
        },
      ],
    })
    const errors = collectErrors(analytics)
    const { err } = await track(analytics, {
      ...purchase('user-x', 'bad-1', 1),
      properties: { list: 'not-a-list' },
    })

    expect(err).toBeInstanceOf(QualtricsDeliveryError)
    expect(errors.map((e) => e.code)).toEqual(['delivery_failure'])
    expect((err as Error).message).toMatchInlineSnapshot(`
      "Qualtrics: 1 mapping of event bad-1 failed
        - purchase (upsertContactTransaction): The mapped payload is invalid
            - mailingListId: must be a Qualtrics id like CG_… (Received: "not-a-list")"
    `)
    expect(sandbox.inspect().transactions).toEqual([])
  })

  it('reports an item Qualtrics refuses as an analytics error when waiting for delivery', async () => {
    sandbox.setFaults([
      {
        kind: 'http-error',
        status: 400,
        route: 'createContact',
        errorMessage: 'Invalid contact',
        errorCode: 'CS_0',
      },
    ])
    await withPlugin({ waitForDelivery: true })
    const errors = collectErrors(analytics)
    const { err } = await identify(analytics, { userId: 'user-y', traits: { email: 'y@example.com' } })

    expect(errors.map((e) => e.code)).toEqual(['delivery_failure'])
    expect(err).toBeInstanceOf(QualtricsDeliveryError)
    const failure = (err as QualtricsDeliveryError).failures[0]
    expect(failure).toMatchObject({ mappingId: 'contact', action: 'addContactToXmd' })
    expect(failure?.error.message).toContain('Qualtrics answered 400')
    expect(failure?.error.message).not.toContain(sandbox.token)
  })

  it('bounds a hook by timeoutMs: the event is reported, closeAndFlush returns, the item stays queued', async () => {
    sandbox.setFaults([{ kind: 'latency', route: 'createContact', ms: 1_500, times: 1 }])
    const p = await withPlugin({ waitForDelivery: true, timeoutMs: 100 })
    const errors = collectErrors(analytics)
    const { err } = await identify(analytics, {
      userId: 'user-slow',
      messageId: 'slow-1',
      traits: { email: 's@example.com' },
    })
    await analytics.closeAndFlush({ timeout: 5_000 })

    expect(errors).toHaveLength(1)
    expect((err as Error).name).toBe('PluginTimeoutError')
    expect((err as Error).message).toMatchInlineSnapshot(
      `"Qualtrics: event slow-1 timed out after 100 ms while waiting for delivery; its items stay queued and may still be delivered"`,
    )
    await p.flush()
    expect(sandbox.inspect().contacts.filter((c) => c.extRef === 'user-slow')).toHaveLength(1)
  })

  it('keeps the token out of log lines and errors, even when Qualtrics refuses it', async () => {
    const token = 'wrong-token-0123456789abcdefghijklmnop'
    const lines: string[] = []
    const logger = {
      info: (fields: object, message: string) => lines.push(`${message} ${JSON.stringify(fields)}`),
      warn: (fields: object, message: string) => lines.push(`${message} ${JSON.stringify(fields)}`),
    }
    await withPlugin({ apiToken: token, logger, waitForDelivery: true })
    const { err } = await identify(analytics, { userId: 'user-z', messageId: 'token-1' })

    expect((err as QualtricsDeliveryError).failures[0]?.error.message).toContain('401')
    expect(lines.some((line) => line.startsWith('qualtrics call failed'))).toBe(true)
    expect(lines.some((line) => line.startsWith('qualtrics event failed'))).toBe(true)
    expect([...lines, (err as Error).message].join('\n')).not.toContain(token)
  })

  it('keeps two senders’ events with one messageId apart: each source writes its own transaction', async () => {
    const other = offlineAnalytics()
    const billing = createQualtricsNodePlugin({
      apiToken: sandbox.token,
      baseUrl: sandbox.url,
      mappings: sandboxMappings(sandbox),
      delivery: FAST_DELIVERY,
      source: 'billing',
    })
    try {
      const checkout = await withPlugin({ source: 'checkout' })
      await other.register(billing)
      expect((await track(analytics, purchase('checkout-buyer', 'order-1001', 10))).err).toBeUndefined()
      expect((await track(other, purchase('billing-buyer', 'order-1001', 20))).err).toBeUndefined()
      await Promise.all([checkout.flush(), billing.flush()])
      const { transactions, transactionKeyCounts } = sandbox.inspect()
      expect(transactions.map((t) => t.data.total).sort()).toEqual([10, 20])
      expect(Object.values(transactionKeyCounts)).toEqual([1, 1])
    } finally {
      await other.closeAndFlush({ timeout: 5_000 })
      await billing.close({ timeoutMs: 5_000 })
    }
  })
})
