// The re-send check with two identical transactions (one user, one instant, one set of data; two
// events): both writes fail ambiguously, only the first reached Qualtrics. Both re-send checks find the
// one written transaction; the claim in the store lets only the first item count it as its own, so
// the second is sent. Run with one engine (the checks at different times), with a restart in between on
// one SQLite file, and with two engines on one PostgreSQL database. The sandbox is the referee.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../../../../test-support/postgres'
import type { DeliveryItem } from '../../src/actions/payloads'
import { createVirtualClock, type VirtualClock } from '../../src/server/delivery/clock'
import { createDeliveryEngine, type DeliveryEngine } from '../../src/server/delivery/engine'
import { createQualtricsClient } from '../../src/server/qualtrics'
import { createMemoryStore } from '../../src/server/store/memory-store'
import type { DeliveryStore } from '../../src/server/store/types'
import { createPostgresStore } from '../../src/postgres/index'
import { createSqliteStore } from '../../src/sqlite/index'

const db = await createTestDatabase()
const dir = mkdtempSync(join(tmpdir(), 'qr-resend-'))
let sb: RunningSandbox
let clock: VirtualClock = createVirtualClock()

beforeAll(async () => {
  sb = await startSandbox({ port: 0, randomSeed: 3, clock: () => clock.now() })
})
afterAll(async () => {
  await sb.close()
  rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => {
  clock = createVirtualClock()
  sb.reset()
  sb.setFaults([])
})

/** One purchase event: every one of them is the same transaction but for its messageId. */
const purchase = (messageId: string): DeliveryItem =>
  ({
    messageId,
    mappingId: 'map-tx',
    action: 'upsertContactTransaction',
    payload: {
      directoryId: sb.directoryId,
      mailingListId: sb.mailingListId,
      extRef: 'twin-buyer',
      transactionDate: '2024-05-01 12:00:00',
      transactionData: { sku: 'mug', amount: 12 },
    },
  }) as DeliveryItem

function engineOn(store: DeliveryStore, owner: string): DeliveryEngine {
  const client = createQualtricsClient({ apiToken: sb.token, baseUrl: sb.url, now: () => clock.now() })
  return createDeliveryEngine({ client, store, clock, owner, random: () => 0.5, retryBaseMs: 500 })
}

/** Two engines, each with a store (a pool) of its own, on one PostgreSQL schema. */
async function onTwoPostgresEngines(
  schema: string,
  run: (first: DeliveryEngine, second: DeliveryEngine) => Promise<void>,
): Promise<void> {
  const stores = await Promise.all([1, 2].map(() => createPostgresStore({ url: db.url, schema })))
  const [e1, e2] = stores.map((store, i) => engineOn(store, `e${i + 1}`))
  try {
    await run(e1!, e2!)
  } finally {
    await Promise.all([e1!.stop(), e2!.stop()])
    await Promise.all(stores.map((store) => store.close()))
  }
}

async function statusOf(engine: DeliveryEngine, messageId: string) {
  const [status] = await engine.status(messageId)
  if (status === undefined) throw new Error(`no item for ${messageId}`)
  return status
}

/**
 * The two engines may be one. `between` runs after the first re-send check settled and returns the
 * engine for the second (a restart hands over a new one).
 */
async function twoIdenticalResends(
  first: DeliveryEngine,
  second: DeliveryEngine,
  between: () => Promise<DeliveryEngine> = async () => second,
): Promise<void> {
  // A: written, then answered 504. B, a moment later: answered 500 without being written.
  sb.setFaults([{ route: 'createTransactions', kind: 'http-error', status: 504, times: 1 }])
  await first.enqueue([purchase('twin-a')])
  await first.flush()
  clock.advance(10)
  sb.setFaults([
    { route: 'createTransactions', kind: 'http-error', status: 500, afterWrite: false, times: 1 },
  ])
  await second.enqueue([purchase('twin-b')])
  await second.flush()
  sb.setFaults([])
  expect(sb.inspect().transactions).toHaveLength(1)
  const a = await statusOf(first, 'twin-a')
  const b = await statusOf(second, 'twin-b')
  for (const s of [a, b]) expect(s).toMatchObject({ state: 'pending', lastError: { possiblyWritten: true } })
  expect(a.nextAttemptAt).toBeLessThan(b.nextAttemptAt)

  // A's re-send check (B not yet due) finds its transaction and claims it.
  clock.advanceTo(a.nextAttemptAt)
  await first.flush()
  const [written] = sb.inspect().transactions
  expect(await statusOf(first, 'twin-a')).toMatchObject({
    state: 'delivered',
    result: { transactionId: written!.id },
  })

  // B's re-send check finds the same transaction, A's: it is sent.
  const last = await between()
  clock.advanceTo(b.nextAttemptAt)
  await last.flush()
  const transactions = sb.inspect().transactions
  expect(transactions).toHaveLength(2)
  const settledB = await statusOf(last, 'twin-b')
  expect(settledB).toMatchObject({ state: 'delivered', result: { transactionId: transactions[1]!.id } })
  expect(transactions.map((t) => t.contactId)).toEqual([written!.contactId, written!.contactId])
}

/** A delivered cleanly (its transaction id from the answer); then B, identical, fails without being
 * written, and its re-send check finds A's transaction. */
async function afterACleanDelivery(first: DeliveryEngine, second: DeliveryEngine): Promise<void> {
  await first.enqueue([purchase('twin-a')])
  await first.flush()
  const [written] = sb.inspect().transactions
  expect(await statusOf(first, 'twin-a')).toMatchObject({
    state: 'delivered',
    result: { transactionId: written!.id },
  })
  sb.setFaults([
    { route: 'createTransactions', kind: 'http-error', status: 500, afterWrite: false, times: 1 },
  ])
  await second.enqueue([purchase('twin-b')])
  await second.flush()
  sb.setFaults([])
  const b = await statusOf(second, 'twin-b')
  expect(b).toMatchObject({ state: 'pending', lastError: { possiblyWritten: true } })
  clock.advanceTo(b.nextAttemptAt)
  await second.flush()
  const transactions = sb.inspect().transactions
  expect(transactions).toHaveLength(2)
  expect(await statusOf(second, 'twin-b')).toMatchObject({
    state: 'delivered',
    result: { transactionId: transactions[1]!.id },
  })
}

describe('two identical transactions re-sent after ambiguous failures', () => {
  it('one engine: the written one is matched once, the other is sent', async () => {
    const engine = engineOn(createMemoryStore(), 'solo')
    await twoIdenticalResends(engine, engine)
    await engine.stop()
  })

  it('one engine, both checks at once on one listing: the written one is matched once, the other is sent', async () => {
    const store = createMemoryStore()
    const client = createQualtricsClient({ apiToken: sb.token, baseUrl: sb.url, now: () => clock.now() })
    const engine = createDeliveryEngine({ client, store, clock, random: () => 0.5, transactionBatchSize: 1 })
    // two requests of one item each: the first is written and answered 504, the second only fails
    sb.setFaults([
      { route: 'createTransactions', kind: 'http-error', status: 504, times: 1 },
      { route: 'createTransactions', kind: 'http-error', status: 500, afterWrite: false, times: 1 },
    ])
    await engine.enqueue([purchase('twin-a'), purchase('twin-b')])
    await engine.flush()
    sb.setFaults([])
    expect(sb.inspect().transactions).toHaveLength(1)
    const statuses = await Promise.all(['twin-a', 'twin-b'].map((m) => statusOf(engine, m)))
    expect(statuses.map((s) => s.lastError?.possiblyWritten)).toEqual([true, true])
    expect(statuses[0]!.nextAttemptAt).toBe(statuses[1]!.nextAttemptAt)

    clock.advanceTo(statuses[0]!.nextAttemptAt)
    await engine.flush()
    const transactions = sb.inspect().transactions
    expect(transactions).toHaveLength(2)
    const ids = await Promise.all(
      ['twin-a', 'twin-b'].map(async (m) => (await statusOf(engine, m)).result?.transactionId),
    )
    expect(ids.sort()).toEqual(transactions.map((t) => t.id).sort())
    expect(sb.inspect().requests.filter((r) => r.route === 'listContactTransactions')).toHaveLength(1)
    await engine.stop()
  })

  it('a restart on one SQLite file between the two checks: the claim survives it', async () => {
    const path = join(dir, 'restart.db')
    let store = createSqliteStore({ path })
    const before = engineOn(store, 'before')
    await twoIdenticalResends(before, before, async () => {
      await before.stop()
      await store.close()
      store = createSqliteStore({ path })
      return engineOn(store, 'after')
    })
    await store.close()
  })

  it('two engines on one PostgreSQL database: the second does not count the first’s transaction', async () => {
    await onTwoPostgresEngines('resend_claim', twoIdenticalResends)
  })
})

describe('an identical transaction re-sent after one was delivered without a failure', () => {
  it('one engine: the delivered transaction is its item’s, the other is sent', async () => {
    const engine = engineOn(createMemoryStore(), 'solo')
    await afterACleanDelivery(engine, engine)
    await engine.stop()
  })

  it('two engines on one PostgreSQL database', async () => {
    await onTwoPostgresEngines('resend_after_clean', afterACleanDelivery)
  })
})
