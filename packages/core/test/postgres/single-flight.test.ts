// Single flight across instances: three engines on one PostgreSQL database (each its own pool, as three
// processes would have) resolve the same new users at the same moment against one sandbox whose
// directory merges nothing (every create adds a contact). With the store's shared key locks they create
// one contact per user; with in-process locks only, the same load creates duplicates.

import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../../../../test-support/postgres'
import type { DeliveryItem } from '../../src/actions/payloads'
import { createDeliveryEngine } from '../../src/server/delivery/engine'
import { contactCacheKey } from '../../src/server/delivery/keys'
import { createQualtricsClient } from '../../src/server/qualtrics'
import { createPostgresStore } from '../../src/postgres/index'

const db = await createTestDatabase()
let sb: RunningSandbox
beforeAll(async () => {
  sb = await startSandbox({
    port: 0,
    seed: { directories: [{ name: 'No merging', mergeRules: [], mailingLists: [{ name: 'Buyers' }] }] },
  })
})
afterAll(() => sb.close())
beforeEach(() => {
  // Searches take a while, so the three engines look each user up at the same time.
  sb.setFaults([{ kind: 'latency', ms: 100, route: 'searchContacts' }])
})

const USERS = 12
const purchase = (engine: number, user: number): DeliveryItem =>
  ({
    messageId: `e${engine}-u${user}`,
    mappingId: 'purchase',
    action: 'upsertContactTransaction',
    payload: {
      directoryId: sb.directoryId,
      mailingListId: sb.mailingListId,
      extRef: `user-${user}`,
      transactionDate: '2024-05-01 12:00:00',
      transactionData: { engine },
    },
  }) as DeliveryItem

async function fleetResolves(schema: string, shared: boolean): Promise<Map<string, number>> {
  const stores = await Promise.all([0, 1, 2].map(() => createPostgresStore({ url: db.url, schema })))
  try {
    const engines = stores.map((store) =>
      createDeliveryEngine({
        client: createQualtricsClient({ apiToken: sb.token, baseUrl: sb.url }),
        store,
        transactionLingerMs: 5,
        // Each claims a third of the queue at once, so every user's items are spread over the engines.
        maxInFlight: USERS,
        ...(shared ? { contactLocks: store.createKeyLocks() } : {}),
      }),
    )
    await Promise.all(
      engines.map((engine, e) => engine.enqueue(Array.from({ length: USERS }, (_, u) => purchase(e, u)))),
    )
    await Promise.all(engines.map((engine) => engine.flush()))
    expect(await stores[0]!.counts()).toMatchObject({ delivered: 3 * USERS, pending: 0, leased: 0 })
  } finally {
    await Promise.all(stores.map((s) => s.close()))
  }
  const perUser = new Map<string, number>()
  for (const c of sb.inspect().contacts.filter((c) => c.directoryId === sb.directoryId))
    if (c.extRef !== undefined) perUser.set(c.extRef, (perUser.get(c.extRef) ?? 0) + 1)
  return perUser
}

describe('single flight across three engines on one database', () => {
  it('creates one contact per user when the engines share key locks', async () => {
    sb.reset({ directories: [{ name: 'No merging', mergeRules: [], mailingLists: [{ name: 'Buyers' }] }] })
    sb.setFaults([{ kind: 'latency', ms: 100, route: 'searchContacts' }])
    const perUser = await fleetResolves('shared_locks', true)
    expect(perUser.size).toBe(USERS)
    expect([...perUser.values()].every((n) => n === 1)).toBe(true)
  })

  it('has teeth: with in-process locks only, the same load creates duplicates', async () => {
    sb.reset({ directories: [{ name: 'No merging', mergeRules: [], mailingLists: [{ name: 'Buyers' }] }] })
    // Slow searches (1 s) so the engines' look-ups overlap even when a loaded machine staggers their
    // starts (100 ms was not always enough in CI).
    sb.setFaults([{ kind: 'latency', ms: 1_000, route: 'searchContacts' }])
    // Whether two engines hold one user's items at the same moment depends on how their claims
    // interleave; a run where they never do proves nothing either way, so up to three runs (each on a
    // fresh schema and directory) must show a duplicate at least once.
    let duplicated = false
    for (let run = 0; run < 3 && !duplicated; run++) {
      if (run > 0)
        sb.reset({
          directories: [{ name: 'No merging', mergeRules: [], mailingLists: [{ name: 'Buyers' }] }],
        })
      if (run > 0) sb.setFaults([{ kind: 'latency', ms: 1_000, route: 'searchContacts' }])
      const perUser = await fleetResolves(`local_locks_${run}`, false)
      duplicated = [...perUser.values()].some((n) => n > 1)
    }
    expect(duplicated).toBe(true)
  }, 90_000)

  it('keeps a user’s lock for a live holder past its lease (the lease is renewed) until it releases it', async () => {
    const store = await createPostgresStore({ url: db.url, schema: 'renewed_lease' })
    const other = await createPostgresStore({ url: db.url, schema: 'renewed_lease' })
    try {
      const key = [contactCacheKey(sb.directoryId, 'extRef', 'user-9')]
      // A holder waiting 4 leases long (for rate tokens, say) before its create.
      const release = await store.createKeyLocks({ leaseMs: 300 }).acquire(key)
      const stop = new AbortController()
      let taken = false
      const contender = other
        .createKeyLocks({ leaseMs: 300 })
        .acquire(key, stop.signal)
        .then(async (give) => {
          taken = true
          await give()
        })
      await new Promise((resolve) => setTimeout(resolve, 1_200))
      expect(taken).toBe(false)
      await release()
      await contender
      expect(taken).toBe(true)
      stop.abort()
    } finally {
      await store.close()
      await other.close()
    }
  })

  it('stops at once while waiting for a user’s lock another instance holds, handing the item back unfailed', async () => {
    sb.reset({ directories: [{ name: 'No merging', mergeRules: [], mailingLists: [{ name: 'Buyers' }] }] })
    sb.setFaults([])
    const store = await createPostgresStore({ url: db.url, schema: 'stop_while_waiting' })
    try {
      const locks = store.createKeyLocks()
      // Another instance holds the user's key for the whole test.
      const holder = await locks.acquire([contactCacheKey(sb.directoryId, 'extRef', 'user-7')])
      const engine = createDeliveryEngine({
        client: createQualtricsClient({ apiToken: sb.token, baseUrl: sb.url }),
        store,
        transactionLingerMs: 5,
        pollIntervalMs: 20,
        contactLocks: locks,
      })
      await engine.enqueue([purchase(0, 7)])
      engine.start()
      for (let i = 0; i < 500 && (await store.counts()).leased === 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 10))
      // The lease is 30 s: a stop that waited for it would time this test out.
      await engine.stop({ drainMs: 50 })
      expect(await store.counts()).toMatchObject({ pending: 1, leased: 0, dead: 0 })
      expect((await engine.status('e0-u7'))[0]).toMatchObject({ state: 'pending', attempts: 0 })
      await holder()
    } finally {
      await store.close()
    }
    expect(sb.inspect().requests.filter((r) => r.route === 'createContact')).toEqual([])
  })

  it('takes a user’s lock over from a holder killed during its create once its lease ran out, and ends with one contact', async () => {
    sb.reset({ directories: [{ name: 'No merging', mergeRules: [], mailingLists: [{ name: 'Buyers' }] }] })
    // The holder's create reaches the sandbox and is applied 600 ms later, after the holder is dead.
    sb.setFaults([{ kind: 'latency', ms: 600, route: 'createContact' }])
    const schema = 'killed_holder'
    await (await createPostgresStore({ url: db.url, schema })).close()
    const holder = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./contact-holder-process.ts', import.meta.url))],
      {
        env: {
          ...process.env,
          STORE_URL: db.url,
          STORE_SCHEMA: schema,
          SB_URL: sb.url,
          SB_TOKEN: sb.token,
          LEASE_MS: '2000',
          ITEM: JSON.stringify(purchase(0, 99)),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    const exited = new Promise((resolve) => holder.once('exit', resolve))
    // Killed while its create is on the wire: its search (under the user's lease) has been answered,
    // and the create that follows it waits 600 ms in the sandbox.
    for (let i = 0; i < 1000; i++) {
      if (sb.inspect().requests.some((r) => r.route === 'searchContacts')) break
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    await new Promise((resolve) => setTimeout(resolve, 150))
    holder.kill('SIGKILL')
    await exited

    // Another engine wants the same user: it waits out the dead holder's lease (without the lease's end it
    // would wait for ever), searches, and the user ends with one contact.
    sb.setFaults([])
    const store = await createPostgresStore({ url: db.url, schema })
    try {
      const engine = createDeliveryEngine({
        client: createQualtricsClient({ apiToken: sb.token, baseUrl: sb.url }),
        store,
        transactionLingerMs: 5,
        contactLocks: store.createKeyLocks({ leaseMs: 2000 }),
      })
      await engine.enqueue([purchase(1, 99)])
      await engine.flush()
      expect(await store.counts()).toMatchObject({ delivered: 1 })
    } finally {
      await store.close()
    }
    const contacts = sb.inspect().contacts.filter((c) => c.extRef === 'user-99')
    expect(contacts).toHaveLength(1)
  })
})
