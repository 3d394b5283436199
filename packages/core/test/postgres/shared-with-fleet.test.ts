// sharedWithFleet: what a store shares with the other engines on it, as engine options. The PostgreSQL
// store gives a rate budget (the engine's rate as the fleet's), contact locks and the Qualtrics circuit
// (with the engine's circuit options); the memory store
// nothing; what the caller already gives is kept; bad options are refused as the engine refuses them.

import { afterAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../../../../test-support/postgres'
import { createQualtricsClient } from '../../src/server/qualtrics'
import { createMemoryStore } from '../../src/server/store'
import { createRateLimiter, sharedWithFleet, systemClock } from '../../src/server/delivery'
import { createPostgresStore } from '../../src/postgres/index'

const db = await createTestDatabase()
const store = await createPostgresStore({ url: db.url, schema: 'fleet_options' })
afterAll(() => store.close())
const client = createQualtricsClient({
  apiToken: 'token-for-tests-0123456789',
  baseUrl: 'http://127.0.0.1:9',
})

describe('sharedWithFleet', () => {
  it('takes the PostgreSQL store’s rate budget, at the engine’s rate, its contact locks and its circuit', async () => {
    const shared = sharedWithFleet({ client, store, requestsPerMinute: 1200, burst: 7 })
    expect(Object.keys(shared).sort()).toEqual(['circuit', 'contactLocks', 'rateBudget'])
    expect(await shared.rateBudget?.snapshot()).toEqual({
      scope: 'fleet',
      tokens: 7,
      requestsPerMinute: 1200,
      pausedUntil: 0,
    })
  })

  it('shares nothing for a store of one process', () => {
    expect(sharedWithFleet({ client, store: createMemoryStore() })).toEqual({})
  })

  it('keeps what the caller gives', () => {
    const rateBudget = createRateLimiter({
      clock: systemClock,
      requestsPerSecond: 1,
      burst: 1,
      recoveryMs: 1000,
      pauseBaseMs: 1,
      pauseMaxMs: 1,
    })
    const shared = sharedWithFleet({ client, store, rateBudget })
    expect(Object.keys(shared)).toEqual(['contactLocks', 'circuit'])
  })

  it('gives the shared circuit the engine’s circuit options', async () => {
    const { circuit } = sharedWithFleet({
      client,
      store,
      circuitFailureThreshold: 2,
      circuitProbeBaseMs: 700,
    })
    const send = { kind: 'send' } as const
    expect((await circuit!.recordFailure(1_000, send)).transition).toBeUndefined()
    expect((await circuit!.recordFailure(1_001, send)).transition).toMatchObject({
      to: 'open',
      nextProbeAt: 1_701,
    })
  })

  it('refuses bad engine options, naming them', () => {
    expect(() => sharedWithFleet({ client, store, requestsPerMinute: -1 }))
      .toThrowErrorMatchingInlineSnapshot(`
      [ConfigError: Invalid delivery engine options
        - requestsPerMinute: must be a number >= 0.001 (Received: -1)]
    `)
  })
})
