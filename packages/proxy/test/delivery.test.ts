// End to end: POST /v1/batch on a real proxy → the delivery engine → a real sandbox, including faults
// and a restart with pending items.
import { join } from 'node:path'
import { startSandbox } from '@qualtrics-relay/sandbox'
import { afterEach, describe, expect, it } from 'vitest'
import {
  contactItem,
  delivered,
  FAST_DELIVERY,
  feedbackItem,
  mappingsFor,
  messageId,
  postBatch,
  purchaseItem,
  request,
  SITE,
  startHarness,
  tempDir,
  waitFor,
  type Harness,
} from './helpers'

let harness: Harness | undefined
afterEach(async () => {
  await harness?.close()
  harness = undefined
})

const transactionsOf = (h: Harness) => h.sandbox.inspect().transactions
const duplicatedKeys = (h: Harness) =>
  Object.entries(h.sandbox.inspect().transactionKeyCounts).filter(([, n]) => n > 1)

describe('each action, end to end', () => {
  it('creates a contact from an identify mapping', async () => {
    harness = await startHarness()
    const h = harness
    const item = contactItem(h.sandbox, messageId(), { extRef: 'user-42', email: 'grace@example.com' })
    const answer = await postBatch(h.url, { writeKey: 'wk_test', items: [item] })
    expect(answer.status).toBe(202)
    expect(answer.json).toEqual({
      results: [{ messageId: item.messageId, mapping: 'contact', status: 'accepted' }],
    })

    const status = await delivered(h.url, item.messageId)
    expect(status).toMatchObject({
      messageId: item.messageId,
      items: [{ mapping: 'contact', state: 'delivered' }],
    })
    const contacts = h.sandbox.inspect().contacts.filter((c) => c.extRef === 'user-42')
    expect(contacts).toHaveLength(1)
    expect(contacts[0]).toMatchObject({
      email: 'grace@example.com',
      firstName: 'Ada',
      directoryId: h.sandbox.directoryId,
    })
  })

  it('adds a transaction, creating the contact it belongs to', async () => {
    harness = await startHarness()
    const h = harness
    const item = purchaseItem(h.sandbox, messageId(), { extRef: 'buyer-1', email: 'buyer@example.com' })
    expect((await postBatch(h.url, { writeKey: 'wk_test', items: [item] })).status).toBe(202)
    await delivered(h.url, item.messageId)

    const snapshot = h.sandbox.inspect()
    const contact = snapshot.contacts.find((c) => c.extRef === 'buyer-1')
    expect(contact).toBeDefined()
    expect(snapshot.transactions).toHaveLength(1)
    expect(snapshot.transactions[0]).toMatchObject({
      contactId: contact?.id,
      mailingListId: h.sandbox.mailingListId,
      transactionDate: '2024-05-01 10:00:00',
      data: { orderId: 'o-1', total: 42 },
    })
  })

  it('starts a workflow with the event payload', async () => {
    harness = await startHarness()
    const h = harness
    const item = feedbackItem(h.sandbox)
    expect((await postBatch(h.url, { writeKey: 'wk_test', items: [item] })).status).toBe(202)
    await delivered(h.url, item.messageId)
    const runs = h.sandbox.inspect().workflowRuns
    expect(runs).toHaveLength(1)
    expect(runs[0]?.payload).toEqual({ event: 'Feedback Requested', userId: 'user-1' })
  })

  it('accepts text/plain bodies as sendBeacon sends them', async () => {
    harness = await startHarness()
    const h = harness
    const item = feedbackItem(h.sandbox)
    const answer = await postBatch(
      h.url,
      { writeKey: 'wk_test', items: [item] },
      { 'Content-Type': 'text/plain;charset=UTF-8' },
    )
    expect(answer.status).toBe(202)
    await delivered(h.url, item.messageId)
  })
})

describe('duplicates', () => {
  it('accepts a messageId and mapping once, in one batch or across batches', async () => {
    harness = await startHarness()
    const h = harness
    const id = messageId()
    const first = await postBatch(h.url, {
      writeKey: 'wk_test',
      items: [purchaseItem(h.sandbox, id), purchaseItem(h.sandbox, id), feedbackItem(h.sandbox, id)],
    })
    expect(first.status).toBe(202)
    expect((first.json as { results: { status: string }[] }).results.map((r) => r.status)).toEqual([
      'accepted',
      'duplicate',
      'accepted',
    ])
    await delivered(h.url, id)
    const again = await postBatch(h.url, { writeKey: 'wk_test', items: [purchaseItem(h.sandbox, id)] })
    expect((again.json as { results: { status: string }[] }).results[0]?.status).toBe('duplicate')

    expect(transactionsOf(h)).toHaveLength(1)
    expect(h.sandbox.inspect().workflowRuns).toHaveLength(1)
  })
})

describe('several sources', () => {
  it('takes a messageId another write key already sent as its own item: stored, shown and delivered as its own transaction', async () => {
    harness = await startHarness({
      writeKeys: (sandbox) => ({
        wk_shop: { name: 'Shop', origins: [SITE], mappings: mappingsFor(sandbox) },
        wk_other: { name: 'Other shop', origins: [SITE], mappings: mappingsFor(sandbox) },
      }),
    })
    const h = harness
    const send = (writeKey: string, extRef: string) =>
      postBatch(h.url, {
        writeKey,
        items: [purchaseItem(h.sandbox, 'order-1001', { extRef, email: `${extRef}@example.com` })],
      })
    const shop = await send('wk_shop', 'shop-buyer')
    expect(shop.json).toEqual({
      results: [{ messageId: 'order-1001', mapping: 'purchase', status: 'accepted' }],
    })
    await delivered(h.url, 'order-1001', 'wk_shop')

    const other = await send('wk_other', 'other-buyer')
    expect(other.json).toEqual({
      results: [{ messageId: 'order-1001', mapping: 'purchase', status: 'accepted' }],
    })
    const status = await delivered(h.url, 'order-1001', 'wk_other')
    expect(status.items).toHaveLength(1)
    // Each source sees its own item only.
    const shopStatus = await request(`${h.url}/v1/messages/order-1001?writeKey=wk_shop`)
    expect((shopStatus.json as { items: unknown[] }).items).toHaveLength(1)

    const snapshot = h.sandbox.inspect()
    expect(snapshot.transactions).toHaveLength(2)
    expect(Object.values(snapshot.transactionKeyCounts)).toEqual([1, 1])
    const buyers = snapshot.transactions.map(
      (t) => snapshot.contacts.find((c) => c.id === t.contactId)?.extRef,
    )
    expect(buyers.sort()).toEqual(['other-buyer', 'shop-buyer'])
    // A re-send by either source is still a duplicate.
    expect(
      ((await send('wk_other', 'other-buyer')).json as { results: { status: string }[] }).results[0]?.status,
    ).toBe('duplicate')
  })
})

describe('faults at Qualtrics are recovered without duplicates', () => {
  async function sendPurchases(h: Harness, count: number): Promise<string[]> {
    const ids = Array.from({ length: count }, () => messageId())
    const items = ids.map((id, i) =>
      purchaseItem(h.sandbox, id, { extRef: `user-${i % 3}`, email: `u${i % 3}@example.com` }),
    )
    const answer = await postBatch(h.url, { writeKey: 'wk_test', items })
    expect(answer.status).toBe(202)
    return ids
  }

  it.each([
    [
      'a storm of 429s with Retry-After',
      [{ kind: 'rate-limit', route: 'createTransactions', times: 4, retryAfterSeconds: 0 }],
    ],
    [
      '5xx answers',
      [{ kind: 'http-error', status: 500, route: ['createTransactions', 'searchContacts'], times: 3 }],
    ],
    ['503 while creating contacts', [{ kind: 'http-error', status: 503, route: 'createContact', times: 2 }]],
    [
      '504 after the transactions were written',
      [{ kind: 'http-error', status: 504, route: 'createTransactions', times: 2, afterWrite: true }],
    ],
    [
      'a timeout after the write',
      [{ kind: 'timeout', ms: 1_500, route: 'createTransactions', times: 1, afterWrite: true }],
    ],
    [
      'a dropped connection after the write',
      [{ kind: 'disconnect', route: 'createTransactions', times: 1, afterWrite: true }],
    ],
  ])('recovers from %s', async (_name, faults) => {
    harness = await startHarness()
    const h = harness
    h.sandbox.setFaults(faults as Parameters<typeof h.sandbox.setFaults>[0])
    const ids = await sendPurchases(h, 6)
    for (const id of ids) await delivered(h.url, id, 'wk_test', 20_000)

    // The faults did fire (the proxy logged failed Qualtrics calls), and yet every transaction is there once.
    const failedCalls = h.logs.lines
      .map((l) => JSON.parse(l) as { component?: string; level: number })
      .filter((l) => l.component === 'qualtrics' && l.level === 40)
    expect(failedCalls.length).toBeGreaterThan(0)
    const metrics = (await request(`${h.url}/metrics`)).text
    expect(metrics).toMatch(/relay_items_retried_total\{action="[A-Za-z]+",code="[A-Z_]+"\} [1-9]/)
    expect(transactionsOf(h)).toHaveLength(6)
    expect(duplicatedKeys(h)).toEqual([])
    // One contact per user, however often the calls failed.
    const users = new Set(h.sandbox.inspect().contacts.map((c) => c.extRef))
    expect(users).toEqual(new Set(['user-0', 'user-1', 'user-2']))
    expect(h.sandbox.inspect().contacts).toHaveLength(3)
  })

  it('stays under a real brand rate limit that sends no Retry-After, and delivers once', async () => {
    // The engine's own limit is set below the brand's, as in production (2,400 of 3,000/min), but its
    // burst is larger than the brand's bucket, so the first burst meets 429s.
    harness = await startHarness({
      config: { delivery: { ...FAST_DELIVERY, requestsPerMinute: 500, burst: 4 } },
    })
    const h = harness
    h.sandbox.setRateLimit({ perMinute: 600, burst: 2, retryAfter: false })
    const ids = await sendPurchases(h, 6)
    for (const id of ids) await delivered(h.url, id, 'wk_test', 20_000)
    expect(h.sandbox.inspect().requests.some((r) => r.rateLimited === true)).toBe(true)
    expect(transactionsOf(h)).toHaveLength(6)
    expect(duplicatedKeys(h)).toEqual([])
  })

  it('retries workflow starts through 5xx and delivers each once', async () => {
    harness = await startHarness()
    const h = harness
    h.sandbox.setFaults([{ kind: 'http-error', status: 502, route: 'triggerWorkflow', times: 2 }])
    const item = feedbackItem(h.sandbox)
    expect((await postBatch(h.url, { writeKey: 'wk_test', items: [item] })).status).toBe(202)
    await delivered(h.url, item.messageId)
    expect(h.sandbox.inspect().workflowRuns).toHaveLength(1)
  })
})

describe('restart', () => {
  it('hands back a request still in flight at stop, and the next proxy does not write it twice', async () => {
    const dir = tempDir()
    const sandbox = await startSandbox({ port: 0, host: '127.0.0.1' })
    const storagePath = join(dir.path, 'relay.db')
    try {
      // Transactions are slow to answer; the first proxy gives in-flight work only 50 ms at stop.
      sandbox.setFaults([{ kind: 'latency', ms: 600, route: 'createTransactions', times: 1 }])
      const first = await startHarness({
        sandbox,
        storagePath,
        config: { delivery: { ...FAST_DELIVERY, drainMs: 50 } },
      })
      const ids = Array.from({ length: 3 }, () => messageId())
      const answer = await postBatch(first.url, {
        writeKey: 'wk_test',
        items: ids.map((id) => purchaseItem(sandbox, id, { extRef: 'inflight-user' })),
      })
      expect(answer.status).toBe(202)
      // Wait until the slow transaction request has been sent (the contact exists, nothing written yet).
      await waitFor(() =>
        sandbox.inspect().contacts.some((c) => c.extRef === 'inflight-user') ? true : undefined,
      )
      await new Promise((r) => setTimeout(r, 100))
      await first.close()

      harness = await startHarness({ sandbox, storagePath })
      for (const id of ids) await delivered(harness.url, id)
      await waitFor(() => (sandbox.inspect().transactions.length >= 3 ? true : undefined))
      expect(sandbox.inspect().transactions).toHaveLength(3)
      expect(Object.values(sandbox.inspect().transactionKeyCounts).every((n) => n === 1)).toBe(true)
    } finally {
      await harness?.close()
      harness = undefined
      await sandbox.close()
      dir.remove()
    }
  })

  it('delivers items accepted before a stop after a new proxy starts on the same SQLite file, once', async () => {
    const dir = tempDir()
    const sandbox = await startSandbox({ port: 0, host: '127.0.0.1' })
    const storagePath = join(dir.path, 'relay.db')
    try {
      // Qualtrics is down while the first proxy runs: every item stays pending.
      sandbox.setFaults([
        { kind: 'http-error', status: 503, route: ['createTransactions', 'searchContacts', 'createContact'] },
      ])
      const first = await startHarness({ sandbox, storagePath })
      const ids = Array.from({ length: 5 }, () => messageId())
      const answer = await postBatch(first.url, {
        writeKey: 'wk_test',
        items: ids.map((id, i) => purchaseItem(sandbox, id, { extRef: `restart-${i}` })),
      })
      expect(answer.status).toBe(202)
      await waitFor(() => (sandbox.inspect().requests.some((r) => r.status === 503) ? true : undefined))
      await first.close()
      expect(sandbox.inspect().transactions).toHaveLength(0)

      sandbox.setFaults([])
      harness = await startHarness({ sandbox, storagePath })
      for (const id of ids) await delivered(harness.url, id)
      expect(sandbox.inspect().transactions).toHaveLength(5)
      expect(Object.values(sandbox.inspect().transactionKeyCounts).every((n) => n === 1)).toBe(true)

      // A re-sent event after the restart is still recognised.
      const resent = await postBatch(harness.url, {
        writeKey: 'wk_test',
        items: [purchaseItem(sandbox, ids[0])],
      })
      expect((resent.json as { results: { status: string }[] }).results[0]?.status).toBe('duplicate')
    } finally {
      await harness?.close()
      harness = undefined
      await sandbox.close()
      dir.remove()
    }
  })
})
