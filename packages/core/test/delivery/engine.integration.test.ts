// The delivery engine end to end: the real Qualtrics client against the sandbox on port 0. The engine,
// the client and the sandbox share one virtual clock, so Retry-After pauses, backoff and the sandbox's
// leaky bucket all run in virtual time; only the HTTP exchanges are real.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandbox, type FaultRule, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { DeliveryItem } from '../../src/actions/payloads'
import { createVirtualClock, type VirtualClock } from '../../src/server/delivery/clock'
import { createDeliveryEngine, type DeliveryEngine } from '../../src/server/delivery/engine'
import type { DeliveryEngineConfig } from '../../src/server/delivery/options'
import { createQualtricsClient } from '../../src/server/qualtrics'
import type { QualtricsApi } from '../../src/server/qualtrics/types'
import { createMemoryStore } from '../../src/server/store/memory-store'
import type { DeliveryStore } from '../../src/server/store/types'
import { createSqliteStore } from '../../src/sqlite/index'
import { record, settle } from './helpers'

let sb: RunningSandbox
let clock: VirtualClock
const dir = mkdtempSync(join(tmpdir(), 'qr-engine-'))

beforeAll(async () => {
  clock = createVirtualClock()
  // the sandbox reads whichever virtual clock the current test uses
  sb = await startSandbox({ port: 0, randomSeed: 11, clock: () => clock.now() })
})
afterAll(async () => {
  await sb.close()
  rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => {
  clock = createVirtualClock()
  sb.reset()
  sb.setFaults([])
  sb.setRateLimit({})
  sb.setBehaviour({})
})

function makeClient(timeoutMs = 2000): QualtricsApi {
  return createQualtricsClient({ apiToken: sb.token, baseUrl: sb.url, timeoutMs, now: () => clock.now() })
}

function setup(options: Partial<DeliveryEngineConfig> = {}, store: DeliveryStore = createMemoryStore()) {
  const client = makeClient()
  const engine = createDeliveryEngine({
    client,
    store,
    clock,
    random: () => 0.5,
    retryBaseMs: 500,
    ...options,
  })
  return { engine, store, client, run: () => settle(engine, store, clock) }
}

/** Whether the client can list a contact's transactions (used to check writes hidden by a 504). */
const clientListsTransactions =
  typeof (
    createQualtricsClient({ apiToken: 't', baseUrl: 'http://127.0.0.1:1' }) as {
      listContactTransactions?: unknown
    }
  ).listContactTransactions === 'function'

let seq = 0
function tx(user: string, extra: Record<string, unknown> = {}, messageId = `evt-${++seq}`): DeliveryItem {
  return {
    messageId,
    mappingId: 'map-tx',
    action: 'upsertContactTransaction',
    payload: {
      directoryId: sb.directoryId,
      mailingListId: sb.mailingListId,
      extRef: user,
      email: `${user}@example.com`,
      firstName: 'Pat',
      language: 'EN',
      transactionDate: '2024-05-01 12:00:00',
      transactionData: { amount: 42, sku: `sku-${seq}` },
      ...extra,
    },
  } as DeliveryItem
}

function contact(user: string, extra: Record<string, unknown> = {}): DeliveryItem {
  return {
    messageId: `evt-${++seq}`,
    mappingId: 'map-contact',
    action: 'addContactToXmd',
    payload: {
      directoryId: sb.directoryId,
      extRef: user,
      email: `${user}@example.com`,
      firstName: 'Pat',
      language: 'EN',
      ...extra,
    },
  } as DeliveryItem
}

function workflow(url = sb.workflowUrl): DeliveryItem {
  return {
    messageId: `evt-${++seq}`,
    mappingId: 'map-wf',
    action: 'triggerXflowWorkflow',
    payload: { workflowUrl: url, eventPayload: { event: 'Signed Up', userId: 'u1' } },
  }
}

function duplicates(): string[] {
  return Object.entries(sb.inspect().transactionKeyCounts)
    .filter(([, n]) => n > 1)
    .map(([key]) => key)
}

const routes = () => sb.inspect().requests.map((r) => r.route)

async function stateOf(engine: DeliveryEngine, item: DeliveryItem) {
  const [status] = await engine.status(item.messageId)
  return status
}

describe('each action end to end', () => {
  it('addContactToXmd creates the contact, and a second identify updates it through the merge rules', async () => {
    const { engine, run } = setup()
    const first = contact('alice', { lastName: 'Smith', embeddedData: { plan: 'pro' } })
    await engine.enqueue([first])
    await run()
    await engine.enqueue([contact('alice', { lastName: 'Jones' })])
    await run()
    const contacts = sb.inspect().contacts.filter((c) => c.extRef === 'alice')
    expect(contacts).toHaveLength(1)
    expect(contacts[0]).toMatchObject({
      lastName: 'Jones',
      email: 'alice@example.com',
      embeddedData: { plan: 'pro' },
    })
    expect(await stateOf(engine, first)).toMatchObject({
      state: 'delivered',
      result: { contactId: contacts[0]!.id },
    })
  })

  it('upsertContactTransaction creates a new user then adds the transaction under a key derived from the event', async () => {
    const { engine, run } = setup()
    const item = tx('bob')
    await engine.enqueue([item])
    await run()
    const state = sb.inspect()
    const bob = state.contacts.find((c) => c.extRef === 'bob')!
    expect(state.transactions).toHaveLength(1)
    expect(state.transactions[0]).toMatchObject({
      contactId: bob.id,
      mailingListId: sb.mailingListId,
      transactionDate: '2024-05-01 12:00:00',
      data: { amount: 42 },
    })
    const status = await stateOf(engine, item)
    expect(status).toMatchObject({
      state: 'delivered',
      result: {
        contactId: bob.id,
        transactionId: state.transactions[0]!.id,
        transactionKey: state.transactions[0]!.key,
      },
    })
    expect(state.transactions[0]!.key).toBe(status!.id)
  })

  it('triggerXflowWorkflow posts the event payload to the workflow', async () => {
    const { engine, run } = setup()
    const item = workflow()
    await engine.enqueue([item])
    await run()
    expect(sb.inspect().workflowRuns.map((r) => r.payload)).toEqual([{ event: 'Signed Up', userId: 'u1' }])
    expect(await stateOf(engine, item)).toMatchObject({ state: 'delivered', result: { status: 202 } })
  })

  it('dead-letters a workflow URL outside the operator’s allowlist without sending anything', async () => {
    const { engine, run } = setup({
      isWorkflowUrlAllowed: (url) => url === 'https://iad1.qualtrics.com/allowed',
    })
    const item = workflow()
    await engine.enqueue([item])
    await run()
    expect(sb.inspect().workflowRuns).toHaveLength(0)
    expect(await stateOf(engine, item)).toMatchObject({
      state: 'dead',
      lastError: { code: 'HOST_NOT_ALLOWED', status: 403 },
    })
  })
})

describe('cost: few requests for a stream of transactions', () => {
  it('delivers 300 transactions of 6 new users with documented requests only, at most 0.07 per transaction', async () => {
    const { engine, run } = setup({ transactionBatchSize: 100 })
    const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6']
    await engine.enqueue(Array.from({ length: 300 }, (_, i) => tx(users[i % users.length]!)))
    await run()
    const state = sb.inspect()
    expect(state.transactions).toHaveLength(300)
    expect(state.contacts).toHaveLength(6)
    // per new user a leaf search by extRef and one by email, then a create; 3 transaction batches
    expect(routes().sort()).toEqual(
      [
        ...Array(6).fill('createContact'),
        ...Array(3).fill('createTransactions'),
        ...Array(12).fill('searchContacts'),
      ].sort(),
    )
    // the sandbox follows the published definition: an undocumented filter would have been a 400
    expect(state.requests.filter((r) => r.status !== 200)).toEqual([])
    expect(state.requests.length / 300).toBeLessThanOrEqual(0.07)
    expect(duplicates()).toEqual([])
  })

  it('costs one request per batch once the users are known', async () => {
    const { engine, run } = setup({ transactionBatchSize: 50 })
    await engine.enqueue(['a', 'b', 'c'].map((u) => tx(u)))
    await run()
    const before = sb.inspect().requests.length
    await engine.enqueue(Array.from({ length: 200 }, (_, i) => tx(['a', 'b', 'c'][i % 3]!)))
    await run()
    expect(
      sb
        .inspect()
        .requests.slice(before)
        .map((r) => r.route),
    ).toEqual(Array(4).fill('createTransactions'))
  })
})

describe('idempotency', () => {
  it('writes one transaction for an event enqueued twice, before and after delivery', async () => {
    const { engine, run } = setup()
    const item = tx('carol')
    const results = await Promise.all([engine.enqueue([item]), engine.enqueue([item])])
    expect(
      results
        .flat()
        .map((r) => r.status)
        .sort(),
    ).toEqual(['accepted', 'duplicate'])
    await run()
    expect((await engine.enqueue([item]))[0]!.status).toBe('duplicate')
    await run()
    expect(sb.inspect().transactions).toHaveLength(1)
  })

  it('creates one contact for concurrent events of a new user', async () => {
    // no merge rules: a second create would really be a second contact
    sb.reset({ directories: [{ name: 'No merge', mergeRules: [], mailingLists: [{ name: 'L' }] }] })
    const { engine, run } = setup()
    await Promise.all(Array.from({ length: 20 }, () => engine.enqueue([tx('dave')])))
    await run()
    const state = sb.inspect()
    expect(state.contacts.filter((c) => c.extRef === 'dave')).toHaveLength(1)
    expect(state.transactions).toHaveLength(20)
    expect(routes().filter((r) => r === 'createContact')).toHaveLength(1)
  })

  it('does not duplicate a transaction written before a 504 when Qualtrics deduplicates keys', async () => {
    sb.setBehaviour({ duplicateTransactionKey: 'reject' })
    sb.setFaults([{ route: 'createTransactions', kind: 'http-error', status: 504, times: 1 }])
    const { engine, run } = setup()
    const items = [tx('erin'), tx('erin'), tx('erin')]
    await engine.enqueue(items)
    await run()
    expect(sb.inspect().transactions).toHaveLength(3)
    expect(duplicates()).toEqual([])
    for (const item of items)
      expect(await stateOf(engine, item)).toMatchObject({ state: 'delivered', attempts: 1 })
  })

  it.skipIf(!clientListsTransactions)(
    'does not duplicate a transaction written before a 504 when Qualtrics keeps duplicate keys',
    async () => {
      sb.setFaults([{ route: 'createTransactions', kind: 'http-error', status: 504, times: 1 }])
      const { engine, run } = setup()
      await engine.enqueue([tx('frank'), tx('frank')])
      await run()
      expect(sb.inspect().transactions).toHaveLength(2)
      expect(duplicates()).toEqual([])
    },
  )

  it('retries a timed-out request and writes the transaction once', async () => {
    sb.setBehaviour({ duplicateTransactionKey: 'reject' })
    sb.setFaults([{ route: 'createTransactions', kind: 'timeout', ms: 300, times: 1, afterWrite: true }])
    const store = createMemoryStore()
    const engine = createDeliveryEngine({ client: makeClient(100), store, clock, random: () => 0.5 })
    const events = record(engine, 'retried')
    await engine.enqueue([tx('gina')])
    await settle(engine, store, clock)
    expect(events.retried.map((r) => r.error)).toMatchObject([{ code: 'TIMEOUT', possiblyWritten: true }])
    expect(sb.inspect().transactions).toHaveLength(1)
    expect(duplicates()).toEqual([])
  })
})

describe('failures', () => {
  it.each([
    ['with Retry-After', true, 2000],
    ['without Retry-After', false, 500],
  ] as const)(
    'rides out a 429 storm %s and delivers everything once',
    async (_name, retryAfter, minPause) => {
      sb.setRateLimit({ retryAfter })
      sb.setFaults([
        { kind: 'rate-limit', times: 4, ...(retryAfter ? { retryAfterSeconds: 2 } : {}) } as FaultRule,
      ])
      const { engine, run } = setup()
      const events = record(engine, 'rateLimited', 'deadLettered')
      await engine.enqueue([
        ...Array.from({ length: 10 }, (_, i) => tx(`s${i % 2}`)),
        workflow(),
        contact('s9'),
      ])
      const start = clock.now()
      await run()
      expect(events.rateLimited).toHaveLength(4)
      expect(events.rateLimited[0]!.pauseMs).toBeGreaterThanOrEqual(minPause)
      if (retryAfter) expect(events.rateLimited.every((e) => e.retryAfterMs === 2000)).toBe(true)
      else expect(events.rateLimited.every((e) => e.retryAfterMs === undefined)).toBe(true)
      expect(clock.now() - start).toBeGreaterThanOrEqual(minPause)
      expect(events.deadLettered).toEqual([])
      const state = sb.inspect()
      expect(state.transactions).toHaveLength(10)
      expect(state.workflowRuns).toHaveLength(1)
      expect(duplicates()).toEqual([])
    },
  )

  it('slows down to the sandbox’s own leaky bucket when configured faster than it', async () => {
    sb.setRateLimit({ perMinute: 120, burst: 5 })
    const { engine, run } = setup({ requestsPerMinute: 600, burst: 10 })
    const events = record(engine, 'rateLimited', 'deadLettered')
    await engine.enqueue(Array.from({ length: 40 }, (_, i) => contact(`r${i}`)))
    await run()
    expect(sb.inspect().contacts).toHaveLength(40)
    expect(events.deadLettered).toEqual([])
    // each 429 halves the rate and pauses everything: far fewer 429s than requests
    expect(events.rateLimited.length).toBeGreaterThan(0)
    expect(events.rateLimited.length).toBeLessThan(20)
  })

  it('retries a burst of 5xx and delivers once', async () => {
    sb.setFaults([
      { route: 'createTransactions', kind: 'http-error', status: 500, times: 2, afterWrite: false },
      { route: 'searchContacts', kind: 'http-error', status: 503, times: 1 },
      { route: 'createContact', kind: 'http-error', status: 502, times: 1 },
    ])
    const { engine, run } = setup()
    await engine.enqueue([tx('hank'), tx('hank'), tx('ivy')])
    await run()
    const state = sb.inspect()
    expect(state.transactions).toHaveLength(3)
    expect(state.contacts.map((c) => c.extRef).sort()).toEqual(['hank', 'ivy'])
    expect(duplicates()).toEqual([])
  })

  it('retries the transactions reported unprocessed and keeps the others', async () => {
    sb.setFaults([{ route: 'createTransactions', kind: 'partial-unprocessed', count: 2, times: 1 }])
    const { engine, run } = setup()
    const events = record(engine, 'retried')
    await engine.enqueue(Array.from({ length: 6 }, () => tx('jo')))
    await run()
    expect(events.retried.map((r) => r.error.message)).toEqual([
      expect.stringMatching(
        /did not process transaction \w+ in directory POOL_\w+: The transaction could not be processed/,
      ),
      expect.stringMatching(/did not process transaction/),
    ])
    expect(sb.inspect().transactions).toHaveLength(6)
    expect(duplicates()).toEqual([])
  })

  it.each(['newest', 'fail'] as const)(
    'handles two contacts matching one user with ambiguousContact %s',
    async (policy) => {
      const seeded = sb.seed({
        directories: [
          {
            name: 'Dups',
            mergeRules: [],
            mailingLists: [{ name: 'L' }],
            contacts: [{ extRef: 'dup', email: 'old@x.com' }],
          },
        ],
      })
      const directoryId = seeded.directoryIds[0]!
      clock.advance(60_000)
      const newer = await makeClient().createDirectoryContact(directoryId, {
        extRef: 'dup',
        email: 'new@x.com',
      })
      const { engine, run } = setup({ ambiguousContact: policy })
      const item = tx('dup', { directoryId, mailingListId: seeded.mailingListIds[0] })
      await engine.enqueue([item])
      await run()
      const status = await stateOf(engine, item)
      if (policy === 'newest') {
        expect(status).toMatchObject({ state: 'delivered', result: { contactId: newer.id } })
      } else {
        expect(status).toMatchObject({
          state: 'dead',
          attempts: 1,
          lastError: { code: 'CONTACT_AMBIGUOUS', status: 409 },
        })
        expect(status!.lastError!.message).toContain(
          `2 contacts in directory ${directoryId} match extRef "dup"`,
        )
        expect(sb.inspect().transactions).toHaveLength(0)
      }
    },
  )

  it('dead-letters a refused transaction at once and delivers it when replayed', async () => {
    sb.setFaults([{ route: 'createTransactions', kind: 'http-error', status: 403, times: 1 }])
    const { engine, run } = setup()
    const item = tx('kim')
    await engine.enqueue([item])
    await run()
    const dead = await engine.listDeadLetters()
    expect(dead.map((d) => d.messageId)).toEqual([item.messageId])
    expect(dead[0]!.lastError).toMatchObject({ code: 'QUALTRICS_API_ERROR', status: 403 })
    expect(await engine.replayDeadLetters(dead.map((d) => d.id))).toBe(1)
    await run()
    expect(await stateOf(engine, item)).toMatchObject({ state: 'delivered', attempts: 0 })
    expect(sb.inspect().transactions).toHaveLength(1)
  })
})

describe('restart', () => {
  it('delivers pending and abandoned (leased) items once after a restart on the same SQLite file', async () => {
    sb.setBehaviour({ duplicateTransactionKey: 'reject' })
    const path = join(dir, 'restart.db')
    const first = createSqliteStore({ path })
    const before = createDeliveryEngine({ client: makeClient(), store: first, clock, owner: 'crashed' })
    await before.enqueue([tx('lee'), tx('lee'), workflow(), contact('max')])
    // the first process leases everything, then dies without settling anything
    expect(
      await first.claim({ now: clock.now(), limit: 10, leaseMs: 60_000, owner: 'crashed' }),
    ).toHaveLength(4)
    await first.close()

    clock.advance(60_000)
    const second = createSqliteStore({ path })
    const { engine, run } = setup({}, second)
    await run()
    expect(await second.counts()).toEqual({ pending: 0, leased: 0, delivered: 4, dead: 0 })
    const state = sb.inspect()
    expect(state.transactions).toHaveLength(2)
    expect(state.workflowRuns).toHaveLength(1)
    expect(state.contacts.map((c) => c.extRef).sort()).toEqual(['lee', 'max'])
    expect(duplicates()).toEqual([])
    await engine.stop()
    await second.close()
  })

  it('does not write twice when the process died after a write it never saw answered', async () => {
    sb.setBehaviour({ duplicateTransactionKey: 'reject' })
    sb.setFaults([{ route: 'createTransactions', kind: 'disconnect', times: 1, afterWrite: true }])
    const path = join(dir, 'restart-2.db')
    const store = createSqliteStore({ path })
    const before = createDeliveryEngine({ client: makeClient(), store, clock })
    const item = tx('ned')
    await before.enqueue([item])
    await before.flush()
    await before.stop()
    // the write happened, but this process only saw the connection drop
    expect(sb.inspect().transactions).toHaveLength(1)
    expect(await stateOf(before, item)).toMatchObject({
      state: 'pending',
      lastError: { code: 'NETWORK_ERROR', possiblyWritten: true },
    })
    await store.close()

    const reopened = createSqliteStore({ path })
    const { run } = setup({}, reopened)
    clock.advance(600_000)
    await run()
    expect(sb.inspect().transactions).toHaveLength(1)
    expect(await reopened.counts()).toMatchObject({ delivered: 1 })
    await reopened.close()
  })
})
