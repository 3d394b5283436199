// Scheduling logic of the delivery engine against an in-memory fake of QualtricsApi and a virtual
// clock: retries, backoff, rate-limit pauses, single flight, batching, dead letters. End-to-end
// behaviour against the sandbox and the real client is in engine.integration.test.ts.

import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/errors'
import { createVirtualClock, systemClock } from '../../src/server/delivery/clock'
import { createDeliveryEngine } from '../../src/server/delivery/engine'
import { contactCacheKey } from '../../src/server/delivery/keys'
import type { DeliveryEngineConfig } from '../../src/server/delivery/options'
import { createMemoryStore } from '../../src/server/store/memory-store'
import {
  contactItem,
  createFakeQualtrics,
  http,
  timeout,
  transactionItem,
  workflowItem,
} from './fake-qualtrics'
import { record, settle } from './helpers'

function setup(options: Partial<DeliveryEngineConfig> = {}) {
  const clock = createVirtualClock()
  const client = createFakeQualtrics(clock)
  const store = createMemoryStore()
  const engine = createDeliveryEngine({
    client,
    store,
    clock,
    random: () => 0.5,
    retryBaseMs: 1000,
    ...options,
  })
  return { clock, client, store, engine }
}

describe('createDeliveryEngine options', () => {
  it('lists every bad option in one ConfigError', () => {
    const clock = createVirtualClock()
    let error: unknown
    try {
      createDeliveryEngine({
        client: {} as never,
        store: createMemoryStore(),
        clock,
        transactionBatchSize: 0,
        ambiguousContact: 'oldest' as never,
        requestsPerMinute: -1,
        maxAttempts: 2.5,
        transactionLinger: 5,
      } as DeliveryEngineConfig)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).message).toMatchInlineSnapshot(`
      "Invalid delivery engine options
        - transactionLinger: is not an option of the delivery engine (Received: 5)
        - client: must be a Qualtrics client (createQualtricsClient); missing createDirectoryContact, searchDirectoryContacts, createContactTransactions, triggerWorkflow (Received: {})
        - requestsPerMinute: must be a number >= 0.001 (Received: -1)
        - transactionBatchSize: must be an integer from 1 to 1000 (Received: 0)
        - maxAttempts: must be an integer >= 1 (Received: 2.5)
        - ambiguousContact: must be "newest" or "fail" (Received: "oldest")"
    `)
  })
})

describe('enqueue', () => {
  it('accepts an item once and reports the re-sent event as a duplicate', async () => {
    const { engine } = setup()
    const item = transactionItem({ messageId: 'm-1' })
    const first = await engine.enqueue([item, item])
    const again = await engine.enqueue([item])
    expect(first.map((r) => r.status)).toEqual(['accepted', 'duplicate'])
    expect(again.map((r) => r.status)).toEqual(['duplicate'])
    expect(first[0]!.id).toBe(again[0]!.id)
  })

  it('refuses malformed items with every problem listed', async () => {
    const { engine } = setup()
    await expect(engine.enqueue([{ messageId: '', mappingId: 'm', action: 'nope', payload: null } as never]))
      .rejects.toThrowErrorMatchingInlineSnapshot(`
      [PayloadValidationError: Invalid delivery items
        - 0.messageId: must be a non-empty string (Received: "")
        - 0.action: must be one of addContactToXmd, upsertContactTransaction, triggerXflowWorkflow (Received: "nope")
        - 0.payload: must be an object (Received: null)]
    `)
  })

  it('refuses ids with a lone surrogate, which UTF-8 would turn into U+FFFD and so collide', async () => {
    const { engine } = setup()
    const item = transactionItem({ messageId: 'm-\ud800' })
    await expect(engine.enqueue([{ ...item, source: 'web\udfff' }])).rejects
      .toThrowErrorMatchingInlineSnapshot(`
      [PayloadValidationError: Invalid delivery items
        - 0.messageId: must be well-formed Unicode: it holds a lone surrogate (Received: "m-\\ud800")
        - 0.source: must be well-formed Unicode: it holds a lone surrogate (Received: "web\\udfff")]
    `)
    expect(await engine.enqueue([transactionItem({ messageId: 'm-\ufffd' })])).toMatchObject([
      { status: 'accepted' },
    ])
  })

  it.each([
    [[], '[]'],
    [['extRef', 'extRef'], '["extRef","extRef"]'],
    [['name'], '["name"]'],
    ['extRef', '"extRef"'],
  ])('refuses lookupBy %j', async (lookupBy, shown) => {
    const { engine } = setup()
    await expect(
      engine.enqueue([{ ...transactionItem({ messageId: 'm-lk' }), lookupBy } as never]),
    ).rejects.toThrow(
      `0.lookupBy: must be a non-empty list of distinct extRef, email, phone (Received: ${shown})`,
    )
  })
})

describe('transactions', () => {
  it('batches many transactions per request and looks each new user up with one leaf search per identifier', async () => {
    const { engine, client, store, clock } = setup({ transactionBatchSize: 100 })
    const items = Array.from({ length: 250 }, (_, i) => transactionItem({ user: `u${i % 5}` }))
    await engine.enqueue(items)
    await settle(engine, store, clock)
    expect(client.transactions).toHaveLength(250)
    expect(client.count('createContactTransactions')).toBe(3)
    expect(client.count('createDirectoryContact')).toBe(5)
    // documented filters only: extRef, then email, a leaf each, for each of the 5 new users
    const filters = client.calls.filter((c) => c.endpoint === 'searchDirectoryContacts').map((c) => c.args[1])
    expect(filters).toHaveLength(10)
    expect(filters.every((f) => !('conjunction' in (f as object)))).toBe(true)
    expect(new Set(client.transactions.map((t) => t.key)).size).toBe(250)
  })

  it('creates exactly one contact for concurrent events of one new user', async () => {
    const { engine, client, store, clock } = setup()
    await engine.enqueue(Array.from({ length: 30 }, () => transactionItem({ user: 'newbie' })))
    await settle(engine, store, clock)
    expect(client.contacts).toHaveLength(1)
    expect(new Set(client.transactions.map((t) => t.contactId))).toEqual(new Set([client.contacts[0]!.id]))
  })

  it('reuses the cached contact id in a later engine on the same store', async () => {
    const first = setup()
    await first.engine.enqueue([transactionItem({ user: 'u9' })])
    await settle(first.engine, first.store, first.clock)
    const searches = first.client.count('searchDirectoryContacts')
    const second = createDeliveryEngine({ client: first.client, store: first.store, clock: first.clock })
    await second.enqueue([transactionItem({ user: 'u9' })])
    await settle(second, first.store, first.clock)
    expect(first.client.count('searchDirectoryContacts')).toBe(searches)
    expect(first.client.transactions).toHaveLength(2)
  })

  it('uses a given contactId without any lookup', async () => {
    const { engine, client, store, clock } = setup()
    await engine.enqueue([transactionItem({ contactId: 'CID_GIVEN' })])
    await settle(engine, store, clock)
    expect(client.count('searchDirectoryContacts') + client.count('createDirectoryContact')).toBe(0)
    expect(client.transactions[0]!.contactId).toBe('CID_GIVEN')
  })

  it('retries the transactions Qualtrics reports unprocessed, one by one, and keeps their reason', async () => {
    const { engine, client, store, clock } = setup()
    const events = record(engine, 'retried')
    client.unprocessNext(2)
    const items = Array.from({ length: 5 }, () => transactionItem({ contactId: 'CID_1' }))
    await engine.enqueue(items)
    await engine.flush()
    expect(events.retried.map((r) => r.error.message)).toEqual([
      expect.stringContaining('did not process transaction'),
      expect.stringContaining('did not process transaction'),
    ])
    expect(events.retried[0]!.error.message).toContain('try again (errorCode NOT_PROCESSED)')
    await settle(engine, store, clock)
    expect(client.transactions).toHaveLength(5)
    expect((await store.counts()).delivered).toBe(5)
  })

  it('forgets a cached contact id that Qualtrics no longer knows, and looks the contact up again', async () => {
    const { engine, client, store, clock } = setup()
    client.requireKnownContacts = true
    await store.putContacts([
      {
        key: contactCacheKey('POOL_1', 'extRef', 'u7'),
        contactId: 'CID_DELETED',
        expiresAt: clock.now() + 3_600_000,
      },
    ])
    await engine.enqueue([transactionItem({ user: 'u7' })])
    await settle(engine, store, clock)
    expect(client.transactions).toHaveLength(1)
    expect(client.transactions[0]!.contactId).toBe(client.contacts[0]!.id)
    expect(await store.getContact(contactCacheKey('POOL_1', 'extRef', 'u7'), clock.now())).toBe(
      client.contacts[0]!.id,
    )
  })

  it('splits a refused batch to dead-letter only the transaction that caused it', async () => {
    const { engine, client, store, clock } = setup({ transactionBatchSize: 8 })
    const poison = transactionItem({ contactId: 'CID_1', transactionDate: 'soon' })
    const good = Array.from({ length: 7 }, () => transactionItem({ contactId: 'CID_1' }))
    const original = client.createContactTransactions.bind(client)
    client.createContactTransactions = async (dir, transactions) => {
      if (Object.values(transactions).some((t) => t.transactionDate === 'soon')) {
        client.calls.push({ endpoint: 'createContactTransactions', at: clock.now(), args: [] })
        throw http(400)()
      }
      return original(dir, transactions)
    }
    await engine.enqueue([...good, poison])
    await settle(engine, store, clock)
    expect(client.transactions).toHaveLength(7)
    const dead = await engine.listDeadLetters()
    expect(dead.map((d) => d.messageId)).toEqual([poison.messageId])
  })

  it('does not write a transaction twice when a 504 hid a write that was applied', async () => {
    const { engine, client, store, clock } = setup()
    client.failNext('createContactTransactions', http(504), { afterWrite: true })
    await engine.enqueue([transactionItem({ user: 'u1' }), transactionItem({ user: 'u1' })])
    await settle(engine, store, clock)
    expect(client.transactions).toHaveLength(2)
    expect(client.count('createContactTransactions')).toBe(1)
    expect(client.count('listContactTransactions')).toBe(1)
    expect((await store.counts()).delivered).toBe(2)
  })

  it('does not write twice when Qualtrics lists the date in another format (instants are compared)', async () => {
    const { engine, client, store, clock } = setup()
    client.listing = 'iso-with-key'
    client.failNext('createContactTransactions', http(504), { afterWrite: true })
    await engine.enqueue([transactionItem({ user: 'u1' })])
    await settle(engine, store, clock)
    expect(client.transactions).toHaveLength(1)
    expect(client.count('listContactTransactions')).toBe(1)
    expect((await store.counts()).delivered).toBe(1)
  })

  it('does not take a listed transaction under another key for the one it sent', async () => {
    const { engine, client, store, clock } = setup()
    client.listing = 'iso-with-key'
    const item = transactionItem({ contactId: 'CID_1' })
    // the same list, instant and data, written earlier by another event
    client.transactions.push({
      id: 'CTR_OTHER',
      key: 'another-key',
      directoryId: 'POOL_1',
      contactId: 'CID_1',
      mailingListId: 'CG_1',
      transactionDate: '2024-05-01 10:00:00',
      data: { amount: 10, sku: 'A' },
    })
    client.failNext('createContactTransactions', timeout)
    await engine.enqueue([item])
    await settle(engine, store, clock)
    expect(client.transactions).toHaveLength(2)
    expect(client.count('createContactTransactions')).toBe(2)
  })

  it('re-sends after a timeout when the check finds nothing written', async () => {
    const { engine, client, store, clock } = setup()
    client.failNext('createContactTransactions', timeout)
    await engine.enqueue([transactionItem({ contactId: 'CID_1' })])
    await settle(engine, store, clock)
    expect(client.transactions).toHaveLength(1)
    expect(client.count('createContactTransactions')).toBe(2)
  })
})

describe('contacts', () => {
  it.each([
    ['newest', 'delivered'],
    ['fail', 'dead'],
  ] as const)('with ambiguousContact %s, two matching contacts leave the item %s', async (policy, state) => {
    const { engine, client, store, clock } = setup({ ambiguousContact: policy })
    client.contacts.push(
      { id: 'CID_OLD', directoryId: 'POOL_1', extRef: 'dup', lastModified: '2024-01-01T00:00:00Z' },
      { id: 'CID_NEW', directoryId: 'POOL_1', extRef: 'dup', lastModified: '2024-03-01T00:00:00Z' },
    )
    const item = transactionItem({ user: 'dup' })
    await engine.enqueue([item])
    await settle(engine, store, clock)
    const [status] = await engine.status(item.messageId)
    expect(status!.state).toBe(state)
    if (policy === 'newest') expect(client.transactions[0]!.contactId).toBe('CID_NEW')
    else {
      expect(status!.lastError!.code).toBe('CONTACT_AMBIGUOUS')
      expect(status!.lastError!.message).toMatchInlineSnapshot(
        `"2 contacts in directory POOL_1 match extRef "dup", and ambiguousContact is "fail"; merge the duplicates in Qualtrics or set ambiguousContact to "newest""`,
      )
    }
  })

  it('searches by extRef, then email, then phone, one leaf filter each', async () => {
    const { engine, client, store, clock } = setup({ contactLookupBatchSize: 1 })
    client.contacts.push({ id: 'CID_PHONE', directoryId: 'POOL_1', phone: '+1 555 0100' })
    await engine.enqueue([transactionItem({ user: 'x', phone: '+1 555 0100' })])
    await settle(engine, store, clock)
    const filters = client.calls.filter((c) => c.endpoint === 'searchDirectoryContacts').map((c) => c.args[1])
    expect(filters).toEqual([
      { filterType: 'extRef', comparison: 'eq', value: 'x' },
      { filterType: 'email', comparison: 'eq', value: 'x@example.com' },
      { filterType: 'phone', comparison: 'eq', value: '+1 555 0100' },
    ])
    expect(client.transactions[0]!.contactId).toBe('CID_PHONE')
    expect(client.count('createDirectoryContact')).toBe(0)
  })

  it('with orLookups (a live check saw them honoured), finds known users with one `or` search per identifier', async () => {
    const { engine, client, store, clock } = setup({ orLookups: true })
    client.contacts.push(
      { id: 'CID_A', directoryId: 'POOL_1', extRef: 'a' },
      { id: 'CID_B', directoryId: 'POOL_1', extRef: 'b' },
    )
    await engine.enqueue([transactionItem({ user: 'a' }), transactionItem({ user: 'b' })])
    await settle(engine, store, clock)
    expect(client.transactions.map((t) => t.contactId).sort()).toEqual(['CID_A', 'CID_B'])
    const filters = client.calls.filter((c) => c.endpoint === 'searchDirectoryContacts').map((c) => c.args[1])
    expect(filters).toEqual([
      {
        conjunction: 'or',
        filters: expect.arrayContaining([
          { filterType: 'extRef', comparison: 'eq', value: 'a' },
          { filterType: 'extRef', comparison: 'eq', value: 'b' },
        ]),
      },
    ])
  })

  it('with orLookups, creates no contact on the strength of an `or` answered with no elements: a leaf search confirms first', async () => {
    const { engine, client, store, clock } = setup({ orLookups: true })
    client.emptyOr = true
    client.contacts.push(
      { id: 'CID_A', directoryId: 'POOL_1', extRef: 'a' },
      { id: 'CID_B', directoryId: 'POOL_1', extRef: 'b' },
    )
    await engine.enqueue([transactionItem({ user: 'a' }), transactionItem({ user: 'b' })])
    await settle(engine, store, clock)
    expect(client.transactions.map((t) => t.contactId).sort()).toEqual(['CID_A', 'CID_B'])
    expect(client.count('createDirectoryContact')).toBe(0)
  })

  it('falls back to one search per identifier when the directory refuses "or" filters', async () => {
    const { engine, client, store, clock } = setup({ orLookups: true })
    client.refuseOr = true
    client.contacts.push(
      { id: 'CID_A', directoryId: 'POOL_1', extRef: 'a' },
      { id: 'CID_B', directoryId: 'POOL_1', extRef: 'b' },
    )
    await engine.enqueue([transactionItem({ user: 'a' }), transactionItem({ user: 'b' })])
    await settle(engine, store, clock)
    expect(client.transactions.map((t) => t.contactId).sort()).toEqual(['CID_A', 'CID_B'])
    expect(client.count('createDirectoryContact')).toBe(0)
  })

  it('addContactToXmd creates the contact and fills the cache for later transactions', async () => {
    const { engine, client, store, clock } = setup()
    await engine.enqueue([contactItem('c1')])
    await settle(engine, store, clock)
    await engine.enqueue([transactionItem({ user: 'c1' })])
    await settle(engine, store, clock)
    expect(client.count('createDirectoryContact')).toBe(1)
    expect(client.count('searchDirectoryContacts')).toBe(0)
    expect(client.transactions[0]!.contactId).toBe(client.contacts[0]!.id)
  })

  it('addContactToXmd after a 504 that created the contact finds it instead of creating it again', async () => {
    const { engine, client, store, clock } = setup()
    client.failNext('createDirectoryContact', http(504), { afterWrite: true })
    await engine.enqueue([contactItem('c2')])
    await settle(engine, store, clock)
    expect(client.contacts).toHaveLength(1)
    expect((await store.counts()).delivered).toBe(1)
  })
})

describe('workflows', () => {
  it('dead-letters a workflow URL the operator did not allow, without calling Qualtrics', async () => {
    const { engine, client, store, clock } = setup({
      isWorkflowUrlAllowed: (url) => url.includes('urlTokenId=ok'),
    })
    const allowedUrl = 'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=ok'
    const refused = workflowItem(
      'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=secret',
    )
    await engine.enqueue([refused, workflowItem(allowedUrl)])
    await settle(engine, store, clock)
    expect(client.workflowRuns.map((r) => r.url)).toEqual([allowedUrl])
    const [status] = await engine.status(refused.messageId)
    expect(status!.state).toBe('dead')
    expect(status!.lastError!.message).toMatchInlineSnapshot(
      `"Workflow URL https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers is not one of the workflow URLs the operator allowed; nothing was sent"`,
    )
  })
})

describe('retries and dead letters', () => {
  it('retries 5xx with exponential backoff and jitter, then delivers once', async () => {
    const { engine, client, store, clock } = setup({ retryBaseMs: 1000 })
    const events = record(engine, 'retried', 'delivered')
    client.failNext('triggerWorkflow', http(503), { times: 3 })
    await engine.enqueue([workflowItem()])
    await settle(engine, store, clock)
    // random() = 0.5 → 75% of 1 s, 2 s, 4 s
    expect(events.retried.map((r) => [r.attempts, r.delayMs])).toEqual([
      [1, 750],
      [2, 1500],
      [3, 3000],
    ])
    expect(events.delivered).toHaveLength(1)
    expect(client.workflowRuns).toHaveLength(1)
  })

  it('dead-letters a non-retryable error at once, and a replay delivers it', async () => {
    const { engine, client, store, clock } = setup()
    client.failNext('triggerWorkflow', http(404))
    const item = workflowItem()
    await engine.enqueue([item])
    await settle(engine, store, clock)
    const dead = await engine.listDeadLetters()
    expect(dead).toHaveLength(1)
    expect(dead[0]!.lastError).toMatchObject({ code: 'QUALTRICS_API_ERROR', status: 404 })
    expect(await engine.replayDeadLetters()).toBe(1)
    await settle(engine, store, clock)
    const [status] = await engine.status(item.messageId)
    expect(status).toMatchObject({ state: 'delivered', attempts: 0 })
    expect(client.workflowRuns).toHaveLength(1)
  })

  it('gives up after maxAttempts with the last error kept', async () => {
    const { engine, client, store, clock } = setup({ maxAttempts: 3 })
    client.failNext('triggerWorkflow', http(500), { times: 10 })
    const item = workflowItem()
    await engine.enqueue([item])
    await settle(engine, store, clock)
    const [status] = await engine.status(item.messageId)
    expect(status!.state).toBe('dead')
    expect(status!.attempts).toBe(3)
    expect(status!.lastError!.message).toMatch(
      /^Gave up after 3 attempts \(maxAttempts 3\); last error QUALTRICS_API_ERROR: /,
    )
  })

  it('gives up when the next retry would fall past maxAgeMs', async () => {
    const { engine, client, store, clock } = setup({ maxAgeMs: 5000, maxAttempts: 100 })
    client.failNext('triggerWorkflow', http(502), { times: 100 })
    await engine.enqueue([workflowItem()])
    await settle(engine, store, clock)
    const [dead] = await engine.listDeadLetters()
    // retries after 750 and 1500 ms; the third failure is at 2250 ms and a retry 3 s later would be past 5 s
    expect(dead!.attempts).toBe(3)
    expect(dead!.lastError!.message).toContain('past maxAgeMs (5000 ms')
    expect(client.count('triggerWorkflow')).toBe(3)
  })
})

describe('rate limits', () => {
  it('honours Retry-After, pauses the whole engine and does not count 429s as attempts', async () => {
    const { engine, client, store, clock } = setup({ maxAttempts: 2 })
    const events = record(engine, 'rateLimited', 'retried')
    client.failNext('triggerWorkflow', http(429, 30_000), { times: 3 })
    const start = clock.now()
    await engine.enqueue([workflowItem(), workflowItem()])
    await settle(engine, store, clock)
    expect(events.rateLimited.map((r) => r.retryAfterMs)).toEqual([30_000, 30_000, 30_000])
    expect(events.retried.every((r) => r.attempts === 0)).toBe(true)
    expect(client.workflowRuns).toHaveLength(2)
    // every call after the first 429 waited out a pause
    const times = client.calls.map((c) => c.at - start)
    expect(times.slice(2).every((t) => t >= 30_000)).toBe(true)
  })

  it('backs off further on 429s without Retry-After', async () => {
    const { engine, client, store, clock } = setup({ retryBaseMs: 100 })
    const events = record(engine, 'rateLimited')
    client.failNext('triggerWorkflow', http(429), { times: 4 })
    await engine.enqueue([workflowItem()])
    await settle(engine, store, clock)
    expect(events.rateLimited.map((r) => r.pauseMs)).toEqual([100, 200, 400, 800])
    expect(client.workflowRuns).toHaveLength(1)
  })

  it('keeps requests under the configured rate', async () => {
    const { engine, client, store, clock } = setup({ requestsPerMinute: 600, burst: 1 })
    const start = clock.now()
    await engine.enqueue(Array.from({ length: 20 }, () => workflowItem()))
    await settle(engine, store, clock)
    const times = client.calls.map((c) => c.at - start)
    // 10 per second with no burst: the n-th request goes out no earlier than (n - 1) × 100 ms
    times.forEach((t, i) => expect(t).toBeGreaterThanOrEqual(i * 100 - 100))
    expect(times.at(-1)).toBeLessThanOrEqual(2000)
  })
})

describe('start and stop', () => {
  it('hands unfinished work back to the store on stop, and a new engine delivers it once', async () => {
    const clock = createVirtualClock({ auto: false })
    const client = createFakeQualtrics(clock)
    const store = createMemoryStore()
    // a limiter that never refills: the engine is stuck waiting when it stops
    const engine = createDeliveryEngine({
      client,
      store,
      clock,
      requestsPerMinute: 0.001,
      burst: 1,
      pollIntervalMs: 10,
    })
    await engine.enqueue([workflowItem(), workflowItem()])
    engine.start()
    await new Promise((resolve) => setTimeout(resolve, 20))
    let stopped = false
    const stopping = engine.stop({ drainMs: 5 }).then(() => (stopped = true))
    while (!stopped) {
      clock.advance(10)
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    await stopping
    expect(client.workflowRuns).toHaveLength(1)
    expect(await store.counts()).toMatchObject({ pending: 1, leased: 0, delivered: 1 })
    const next = createDeliveryEngine({ client, store, clock })
    await next.flush()
    expect(client.workflowRuns).toHaveLength(2)
  })

  it('a started engine takes up a retry when it comes due, not at its next poll', async () => {
    const { engine, client, store, clock } = setup({ pollIntervalMs: 600_000 })
    client.failNext('triggerWorkflow', http(503))
    const start = clock.now()
    let deliveredAt: number | undefined
    engine.on('delivered', () => (deliveredAt = clock.now()))
    engine.start()
    await engine.enqueue([workflowItem()])
    for (let i = 0; i < 500 && deliveredAt === undefined; i++) await new Promise((r) => setTimeout(r, 2))
    await engine.stop()
    expect(await store.counts()).toMatchObject({ delivered: 1 })
    // random() = 0.5: the retry is due 750 ms after the failure, long before the next poll or the
    // lease expiry (60 s) the loop would otherwise wait for
    expect((deliveredAt ?? Number.POSITIVE_INFINITY) - start).toBeLessThan(10_000)
  })

  it('delivers in the background once started', async () => {
    const client = createFakeQualtrics(systemClock)
    const store = createMemoryStore()
    const engine = createDeliveryEngine({ client, store, pollIntervalMs: 5, transactionLingerMs: 1 })
    engine.start()
    await engine.enqueue([transactionItem({ contactId: 'CID_1' }), workflowItem()])
    for (let i = 0; i < 200 && (await store.counts()).delivered < 2; i++)
      await new Promise((r) => setTimeout(r, 5))
    await engine.stop()
    expect(client.transactions).toHaveLength(1)
    expect(client.workflowRuns).toHaveLength(1)
  })
})
