// The delivery engine on the PostgreSQL store against the sandbox: a store whose every call is a real
// round trip, where a claim can still be on the wire when the engine is told to stop; and two engines
// holding each other back through an outage on the store's shared circuit.

import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../../../../test-support/postgres'
import type { DeliveryItem } from '../../src/actions/payloads'
import { createDeliveryEngine } from '../../src/server/delivery/engine'
import { createQualtricsClient } from '../../src/server/qualtrics'
import { createPostgresStore, type PostgresStore } from '../../src/postgres/index'

const db = await createTestDatabase()
let sb: RunningSandbox
beforeAll(async () => {
  sb = await startSandbox({ port: 0 })
})
afterAll(() => sb.close())

const tx = (n: number): DeliveryItem =>
  ({
    messageId: `stop-${n}`,
    mappingId: 'map-tx',
    action: 'upsertContactTransaction',
    payload: {
      directoryId: sb.directoryId,
      mailingListId: sb.mailingListId,
      extRef: `user-${n}`,
      transactionDate: '2024-05-01 12:00:00',
      transactionData: { n },
    },
  }) as DeliveryItem

describe('the engine on PostgreSQL', () => {
  it('leaves nothing leased when it stops while a flush’s claim is still on its way', async () => {
    const store = await createPostgresStore({ url: db.url, schema: 'stop_during_claim' })
    const client = createQualtricsClient({ apiToken: sb.token, baseUrl: sb.url })
    const engine = createDeliveryEngine({ client, store, transactionLingerMs: 1 })
    try {
      await engine.enqueue([1, 2, 3].map(tx))
      const flushing = engine.flush().catch(() => {})
      await engine.stop({ drainMs: 0 })
      await flushing
      expect(await store.counts()).toMatchObject({ leased: 0 })
      // Handed back, not lost: another engine delivers them.
      const next = createDeliveryEngine({ client, store, transactionLingerMs: 1, owner: 'next' })
      await next.flush()
      expect(await store.counts()).toMatchObject({ pending: 0, leased: 0, delivered: 3 })
    } finally {
      await store.close()
    }
  })
})

describe('the engine on PostgreSQL, retrying', () => {
  it('delivers items whose retry fell due while their last attempt was still being recorded', async () => {
    const store = await createPostgresStore({ url: db.url, schema: 'retry_race' })
    const client = createQualtricsClient({ apiToken: sb.token, baseUrl: sb.url })
    // Retries due at once: the loop claims an item again the moment its retry is committed, often
    // before the attempt that recorded it has finished.
    const engine = createDeliveryEngine({
      client,
      store,
      transactionLingerMs: 1,
      transactionBatchSize: 1,
      retryBaseMs: 1,
      retryMaxMs: 2,
      pollIntervalMs: 5,
      maxAttempts: 50,
      // Failures of every attempt would otherwise open the circuit and hold everything back.
      circuitFailureThreshold: 1000,
      requestsPerMinute: 60_000,
      burst: 1000,
    })
    sb.setFaults([{ kind: 'http-error', status: 503, route: 'createTransactions', times: 200 }])
    try {
      await engine.enqueue(Array.from({ length: 40 }, (_, i) => tx(100 + i)))
      engine.start()
      let counts = await store.counts()
      // Without the fix an item is left leased by its own engine until the lease (60 s) runs out.
      for (let i = 0; i < 400 && counts.delivered < 40; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25))
        counts = await store.counts()
      }
      expect(counts).toMatchObject({ delivered: 40, leased: 0 })
    } finally {
      sb.setFaults([])
      await engine.stop({ drainMs: 0 })
      await store.close()
    }
  })
})

describe('two engines on PostgreSQL sharing the store’s circuit', () => {
  it('holds the second engine back on the first one’s failures; its probe closes the circuit for both', async () => {
    const stores = await Promise.all(
      [0, 1].map(() => createPostgresStore({ url: db.url, schema: 'engines' })),
    )
    const [storeA, storeB] = stores as [PostgresStore, PostgresStore]
    try {
      const circuitOptions = { failureThreshold: 1, probeBaseMs: 2_000, name: 'brand' }
      const engine = (s: PostgresStore, owner: string) =>
        createDeliveryEngine({
          client: createQualtricsClient({ apiToken: sb.token, baseUrl: sb.url }),
          store: s,
          owner,
          transactionLingerMs: 1,
          circuit: s.createCircuit(circuitOptions),
        })
      const a = engine(storeA, 'a')
      const b = engine(storeB, 'b')
      const moves: string[] = []
      a.on('circuit', (t) => moves.push(`a ${t.from}→${t.to}`))
      b.on('circuit', (t) => moves.push(`b ${t.from}→${t.to}`))

      sb.setFaults([{ kind: 'http-error', status: 503 }])
      await a.enqueue([tx(201), tx(202)])
      await a.flush()
      expect((await b.circuitState()).state).toBe('open')
      const sent = sb.inspect().requests.length
      await b.enqueue([tx(203)])
      await b.flush()
      expect(sb.inspect().requests.length).toBe(sent) // B sent nothing while A's evidence held it open

      sb.setFaults([])
      for (let i = 0; i < 200 && (await storeB.counts()).delivered === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        await b.flush()
      }
      expect((await a.circuitState()).state).toBe('closed')
      await a.flush()
      await b.flush()
      expect(await storeA.counts()).toMatchObject({ delivered: 3, dead: 0, pending: 0, leased: 0 })
      expect(moves).toEqual(['a closed→open', 'b open→probing', 'b probing→closed'])
    } finally {
      await Promise.all(stores.map((s) => s.close()))
    }
  })
})
