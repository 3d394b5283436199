// The proxy on PostgreSQL (DATABASE_URL): delivery end to end, two proxies sharing one queue and one
// Qualtrics circuit, /readyz covering the database, and a shutdown that hands its leases back.
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../../../test-support/postgres'
import {
  delivered,
  FAST_DELIVERY,
  messageId,
  postBatch,
  purchaseItem,
  request,
  startHarness,
  waitFor,
  type Harness,
} from './helpers'

const db = await createTestDatabase()
/** Dropped under a running proxy by the /readyz test. */
const doomed = await createTestDatabase()
let schemas = 0
/** Each test its own schema: a fleet is the proxies sharing one. */
const freshSchema = () => `proxy_${++schemas}`

let admin: pg.Client
beforeAll(async () => {
  admin = new pg.Client({ connectionString: db.url })
  await admin.connect()
})
afterAll(() => admin.end())

async function onDatabase(schema: string, sandbox?: RunningSandbox, url = db.url): Promise<Harness> {
  return startHarness({
    env: { DATABASE_URL: url },
    config: { storage: { schema } },
    ...(sandbox === undefined ? {} : { sandbox }),
  })
}

const statesIn = async (schema: string) =>
  (
    await admin.query<{ state: string; n: number }>(
      `SELECT state, count(*)::int AS n FROM ${schema}.items GROUP BY state ORDER BY state`,
    )
  ).rows

describe('the proxy on PostgreSQL', () => {
  it('stores in the database and delivers from it', async () => {
    const schema = freshSchema()
    const h = await onDatabase(schema)
    try {
      const item = purchaseItem(h.sandbox)
      expect((await postBatch(h.url, { writeKey: 'wk_test', items: [item] })).status).toBe(202)
      await delivered(h.url, item.messageId)
      expect(await statesIn(schema)).toEqual([{ state: 'delivered', n: 1 }])
      const ready = await request(`${h.url}/readyz`)
      expect(ready.json).toMatchObject({ status: 'ready', checks: { storage: { ok: true } } })
    } finally {
      await h.close()
    }
  })

  it('lets two proxies on one schema share the queue and the rate budget: every item delivered once', async () => {
    const schema = freshSchema()
    const sandbox = await startSandbox({ port: 0, host: '127.0.0.1' })
    const a = await onDatabase(schema, sandbox)
    const b = await onDatabase(schema, sandbox)
    try {
      const items = Array.from({ length: 40 }, (_, i) =>
        purchaseItem(sandbox, messageId(), { extRef: `user-${i % 5}`, email: `u${i % 5}@example.com` }),
      )
      for (const [i, item] of items.entries()) {
        const proxy = i % 2 === 0 ? a : b
        expect((await postBatch(proxy.url, { writeKey: 'wk_test', items: [item] })).status).toBe(202)
      }
      for (const item of items) await delivered(a.url, item.messageId)
      const keys = sandbox.inspect().transactionKeyCounts
      expect(Object.values(keys).filter((n) => n > 1)).toEqual([])
      expect(Object.keys(keys)).toHaveLength(items.length)
      // Both drew their Qualtrics requests from one brand-wide bucket.
      const buckets = await admin.query(`SELECT name FROM ${schema}.rate_buckets`)
      expect(buckets.rows).toEqual([{ name: 'qualtrics' }])
      // ...and took their contact creates under shared key leases, all given back.
      const leases = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.key_leases`)
      expect(leases.rows).toEqual([{ n: 0 }])
    } finally {
      await a.close()
      await b.close()
      await sandbox.close()
    }
  })

  it('shows the shared bucket in every instance’s /metrics: a 429 one of them saw pauses and slows the other', async () => {
    const schema = freshSchema()
    const sandbox = await startSandbox({ port: 0, host: '127.0.0.1' })
    // Slow recovery, so the halved rate is still about half when it is read.
    const delivery = { ...FAST_DELIVERY, rateLimitRecoveryMs: 600_000 }
    const fleet = (s: RunningSandbox) =>
      startHarness({ env: { DATABASE_URL: db.url }, config: { storage: { schema }, delivery }, sandbox: s })
    const a = await fleet(sandbox)
    const b = await fleet(sandbox)
    const gauges = async (url: string) =>
      Object.fromEntries(
        (await request(`${url}/metrics`)).text
          .split('\n')
          .filter((line) => line.startsWith('relay_rate_budget_'))
          .map((line) => [
            line.slice(0, line.lastIndexOf(' ')),
            Number(line.slice(line.lastIndexOf(' ') + 1)),
          ]),
      )
    try {
      expect(await gauges(b.url)).toEqual({
        'relay_rate_budget_tokens{scope="fleet"}': FAST_DELIVERY.burst,
        'relay_rate_budget_requests_per_minute{scope="fleet"}': FAST_DELIVERY.requestsPerMinute,
        'relay_rate_budget_paused_until_seconds{scope="fleet"}': 0,
      })
      // One 429 with Retry-After: 3 s, answered to whichever instance sends the item.
      sandbox.setFaults([{ kind: 'rate-limit', retryAfterSeconds: 3, times: 1 }])
      const item = purchaseItem(sandbox)
      expect((await postBatch(a.url, { writeKey: 'wk_test', items: [item] })).status).toBe(202)
      await waitFor(() => (sandbox.inspect().requests.some((r) => r.status === 429) ? true : undefined))
      // Every instance shows it, also one that did not see it.
      for (const url of [a.url, b.url]) {
        const seen = await waitFor(async () => {
          const g = await gauges(url)
          return (g['relay_rate_budget_paused_until_seconds{scope="fleet"}'] ?? 0) > 0 ? g : undefined
        })
        expect(seen['relay_rate_budget_paused_until_seconds{scope="fleet"}']).toBeGreaterThan(
          Date.now() / 1000,
        )
        expect(seen['relay_rate_budget_tokens{scope="fleet"}']).toBe(0)
        const rate = seen['relay_rate_budget_requests_per_minute{scope="fleet"}'] ?? 0
        expect(rate).toBeGreaterThanOrEqual(FAST_DELIVERY.requestsPerMinute / 2)
        expect(rate).toBeLessThan(FAST_DELIVERY.requestsPerMinute * 0.6)
      }
      await delivered(a.url, item.messageId)
    } finally {
      await a.close()
      await b.close()
      await sandbox.close()
    }
  })

  it('lets two proxies on one schema share the Qualtrics circuit: one’s failures hold the other back, opened once', async () => {
    const schema = freshSchema()
    const sandbox = await startSandbox({ port: 0, host: '127.0.0.1' })
    // Probes 8 s apart: the checks below run while the circuit is open, before anyone probes.
    const delivery = { ...FAST_DELIVERY, circuitFailureThreshold: 1, circuitProbeBaseMs: 8_000 }
    const proxy = () =>
      startHarness({ env: { DATABASE_URL: db.url }, config: { storage: { schema }, delivery }, sandbox })
    const a = await proxy()
    const b = await proxy()
    const metric = async (h: Harness, name: string) => {
      const line = (await request(`${h.url}/metrics`)).text.split('\n').find((l) => l.startsWith(`${name} `))
      return line === undefined ? undefined : Number(line.slice(name.length + 1))
    }
    const circuitLines = (h: Harness) =>
      h.logs.lines
        .map((l) => JSON.parse(l) as { msg: string })
        .filter((l) => /circuit (open|closed)/.test(l.msg))
        .map((l) => l.msg.split(':')[1]!.trim())
    try {
      sandbox.setFaults([{ kind: 'http-error', status: 503 }])
      const first = purchaseItem(sandbox)
      await postBatch(a.url, { writeKey: 'wk_test', items: [first] })
      await waitFor(
        async () => (await metric(a, 'relay_qualtrics_circuit_state{state="open"}')) === 1 || undefined,
      )
      // B saw no failure of its own: it reads the shared circuit.
      await waitFor(
        async () => (await metric(b, 'relay_qualtrics_circuit_state{state="open"}')) === 1 || undefined,
      )
      const sent = sandbox.inspect().requests.length
      const second = purchaseItem(sandbox)
      await postBatch(b.url, { writeKey: 'wk_test', items: [second] })
      await new Promise((resolve) => setTimeout(resolve, 500)) // 25 of B's polls
      expect(sandbox.inspect().requests.length).toBe(sent)
      expect((await request(`${b.url}/readyz`)).json).toMatchObject({ qualtricsCircuit: { state: 'open' } })
      expect([
        await metric(a, 'relay_qualtrics_circuit_opened_total'),
        await metric(b, 'relay_qualtrics_circuit_opened_total'),
      ]).toEqual([1, 0])

      sandbox.setFaults([])
      await delivered(a.url, first.messageId)
      await delivered(b.url, second.messageId)
      // One opening and one closing for the fleet, each logged by the instance that caused it.
      expect([...circuitLines(a), ...circuitLines(b)].sort()).toEqual([
        'circuit closed, sending resumed',
        'circuit open, sending stopped; probing with one request',
      ])
      expect(circuitLines(b)).not.toContain('circuit open, sending stopped; probing with one request')
    } finally {
      await a.close()
      await b.close()
      await sandbox.close()
    }
  })

  it('hands its leases back on shutdown, due at once for the other instances', async () => {
    const schema = freshSchema()
    const h = await onDatabase(schema)
    const item = purchaseItem(h.sandbox)
    // Qualtrics holds every answer past the drain time, so the item is in flight when the proxy stops.
    h.sandbox.setFaults([{ kind: 'latency', ms: 5_000 }])
    try {
      await postBatch(h.url, { writeKey: 'wk_test', items: [item] })
      await waitFor(async () => ((await statesIn(schema))[0]?.state === 'leased' ? true : undefined))
    } finally {
      await h.proxy.close()
    }
    expect(await statesIn(schema)).toEqual([{ state: 'pending', n: 1 }])
    const { rows } = await admin.query(`SELECT lease_owner FROM ${schema}.items`)
    expect(rows).toEqual([{ lease_owner: null }])
    h.sandbox.setFaults([])
    const next = await onDatabase(schema, h.sandbox)
    try {
      await delivered(next.url, item.messageId)
    } finally {
      await next.close()
      await h.sandbox.close()
    }
  })

  it('answers /readyz 503 while the database is gone', async () => {
    const h = await onDatabase('gone', undefined, doomed.url)
    try {
      expect((await request(`${h.url}/readyz`)).status).toBe(200)
      await admin.query(`DROP DATABASE ${new URL(doomed.url).pathname.slice(1)} WITH (FORCE)`)
      const answer = await request(`${h.url}/readyz`)
      expect(answer.status).toBe(503)
      expect(answer.json).toMatchObject({ checks: { storage: { ok: false, code: 'STORAGE_ERROR' } } })
    } finally {
      await h.close()
    }
  })
})
