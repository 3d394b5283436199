// The PostgreSQL store: the shared contract, then what only a store shared by several processes has
// (claim races between processes, migrations racing at start-up, leases taken over), the schema
// versions, the indexes claims read, and bad options.

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../../../../test-support/postgres'
import { deriveItemId } from '../../src/server/delivery/keys'
import type { NewItem } from '../../src/server/store/types'
import { createPostgresStore, POSTGRES_SCHEMA_VERSION } from '../../src/postgres/index'
import { describeStoreContract } from '../delivery/store-contract'

const db = await createTestDatabase()
const freshSchema = () => `s_${randomBytes(5).toString('hex')}`
const T0 = 1_700_000_000_000
const LEASE = 60_000

let admin: pg.Client
beforeAll(async () => {
  admin = new pg.Client({ connectionString: db.url })
  await admin.connect()
})
afterAll(() => admin.end())

describeStoreContract('PostgreSQL', () => createPostgresStore({ url: db.url, schema: freshSchema() }))

const workflow = (messageId: string): NewItem => ({
  id: deriveItemId({ messageId, mappingId: 'm1' }),
  messageId,
  mappingId: 'm1',
  action: 'triggerXflowWorkflow',
  payload: { workflowUrl: 'https://iad1.qualtrics.com/x', eventPayload: { n: 1 } },
})

const SCRIPT = fileURLToPath(new URL('./store-process.ts', import.meta.url))

interface ProcessReport {
  owner: string
  leased: string[]
}

/** Starts `n` store processes, lets them go at the same moment, and collects their reports. */
async function raceProcesses(n: number, env: Record<string, string>): Promise<ProcessReport[]> {
  const children = Array.from({ length: n }, (_, i) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
      env: { ...process.env, ...env, STORE_URL: db.url, STORE_OWNER: `process-${i}` },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const lines = createInterface({ input: child.stdout })
    const ready = new Promise<void>((resolve) => lines.once('line', () => resolve()))
    const report = new Promise<ProcessReport>((resolve, reject) => {
      lines.on('line', (line) => {
        if (line.startsWith('{')) resolve(JSON.parse(line) as ProcessReport)
      })
      child.once('exit', (code) => reject(new Error(`store process ${i} exited ${code}: ${stderr}`)))
    })
    return { child, ready, report }
  })
  await Promise.all(children.map((c) => c.ready))
  for (const { child } of children) child.stdin.end('go\n')
  return Promise.all(children.map((c) => c.report))
}

describe('createPostgresStore', () => {
  it('lets three processes claim from one queue at once without leasing any item twice', async () => {
    const schema = freshSchema()
    const seed = await createPostgresStore({ url: db.url, schema })
    const ids = Array.from({ length: 400 }, (_, i) => workflow(`race-${i}`))
    await seed.accept(ids, Date.now() - 1000)
    await seed.close()

    const reports = await raceProcesses(3, { STORE_SCHEMA: schema, MODE: 'claim' })

    const leased = reports.flatMap((r) => r.leased)
    expect(new Set(leased).size).toBe(leased.length)
    expect(leased.sort()).toEqual(ids.map((i) => i.id).sort())
    const { rows } = await admin.query(`SELECT state, count(*)::int AS n FROM ${schema}.items GROUP BY state`)
    expect(rows).toEqual([{ state: 'delivered', n: 400 }])
  })

  it('migrates a new schema once when three processes open it at the same moment', async () => {
    const schema = freshSchema()
    await raceProcesses(3, { STORE_SCHEMA: schema, MODE: 'open' })
    const { rows } = await admin.query(`SELECT version FROM ${schema}.migrations ORDER BY version`)
    expect(rows.map((r: { version: number }) => r.version)).toEqual(
      Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1),
    )
    const store = await createPostgresStore({ url: db.url, schema })
    expect(await store.counts()).toEqual({ pending: 0, leased: 0, delivered: 0, dead: 0 })
    await store.close()
  })

  it('keeps a reclaimed item "possibly written" in its row and refuses every late answer of its old owner', async () => {
    const store = await createPostgresStore({ url: db.url, schema: freshSchema() })
    try {
      await store.accept([workflow('a')], T0)
      const [first] = await store.claim({ now: T0, limit: 1, leaseMs: LEASE, owner: 'old' })
      const [again] = await store.claim({ now: T0 + LEASE, limit: 1, leaseMs: LEASE, owner: 'new' })
      expect(again).toMatchObject({ id: first!.id, leaseOwner: 'new', lastError: { possiblyWritten: true } })
      expect((await store.getByMessageId('a'))[0]!.lastError).toMatchObject({ possiblyWritten: true })

      const id = first!.id
      const error = { code: 'QUALTRICS_API_ERROR', message: 'late', at: T0 + LEASE + 1 }
      expect(await store.markDelivered(id, 'old', T0 + LEASE + 1)).toBe(false)
      const retry = { now: T0 + LEASE + 1, nextAttemptAt: T0, attempts: 1, error }
      expect(await store.scheduleRetry(id, 'old', retry)).toBe(false)
      expect(await store.markDead(id, 'old', { now: T0 + LEASE + 1, attempts: 9, error })).toBe(false)
      expect(await store.renewLeases([id], 'old', T0 + 10 * LEASE, T0 + LEASE + 1)).toBe(0)
      expect(await store.release([id], 'old', T0 + LEASE + 1)).toBe(0)
      expect(await store.getByMessageId('a')).toMatchObject([
        { state: 'leased', leaseOwner: 'new', leaseUntil: T0 + 2 * LEASE, attempts: 0 },
      ])
    } finally {
      await store.close()
    }
  })

  it('claims through the partial index of due rows however many delivered rows wait for pruning', async () => {
    const schema = freshSchema()
    const store = await createPostgresStore({ url: db.url, schema })
    await store.close()
    await admin.query(`
      INSERT INTO ${schema}.items (id, message_id, mapping_id, action, payload, state, attempts, created_at,
                                   updated_at, next_attempt_at, due_at)
      SELECT 'd' || g, 'd' || g, 'm1', 'triggerXflowWorkflow', '{}', 'delivered', 1, ${T0}, ${T0}, ${T0}, NULL
      FROM generate_series(1, 20000) AS g`)
    await admin.query(`ANALYZE ${schema}.items`)
    const { rows } = await admin.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT id FROM ${schema}.items WHERE due_at <= ${T0} ORDER BY due_at, id LIMIT 10 FOR UPDATE SKIP LOCKED`,
    )
    expect(rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Index Scan using items_due/)
  })

  it('prunes delivered rows in chunks and leaves the rest', async () => {
    const schema = freshSchema()
    const store = await createPostgresStore({ url: db.url, schema })
    try {
      await admin.query(`
        INSERT INTO ${schema}.items (id, message_id, mapping_id, action, payload, state, attempts, created_at,
                                     updated_at, next_attempt_at, due_at)
        SELECT 'd' || g, 'd' || g, 'm1', 'triggerXflowWorkflow', '{}', 'delivered', 1, ${T0}, ${T0} + g % 2,
               ${T0}, NULL
        FROM generate_series(1, 12000) AS g`)
      expect(await store.prune({ deliveredBefore: T0 + 1, now: T0 })).toEqual({ items: 6000, contacts: 0 })
      expect(await store.counts()).toEqual({ pending: 0, leased: 0, delivered: 6000, dead: 0 })
    } finally {
      await store.close()
    }
  })

  it('grants a listed transaction to one item when instances with pools of their own claim it at once', async () => {
    const schema = freshSchema()
    const stores = await Promise.all([1, 2, 3].map(() => createPostgresStore({ url: db.url, schema })))
    try {
      const items = Array.from({ length: 30 }, (_, i) => workflow(`twin-${i}`))
      await stores[0]!.accept(items, T0)
      const granted = await Promise.all(
        items.map((item, i) =>
          stores[i % 3]!.claimListedTransaction({
            directoryId: 'POOL_1',
            transactionId: 'CTR_1',
            itemId: item.id,
            now: T0,
          }),
        ),
      )
      const holders = items.filter((_, i) => granted[i])
      expect(holders).toHaveLength(1)
      const { rows } = await admin.query(`SELECT item_id FROM ${schema}.transaction_claims`)
      expect(rows).toEqual([{ item_id: holders[0]!.id }])
    } finally {
      await Promise.all(stores.map((s) => s.close()))
    }
  })

  it('upgrades a schema of version 3 in place: transactions delivered before are claimed by their items, and the circuit has its table', async () => {
    const schema = freshSchema()
    const purchase = (messageId: string): NewItem =>
      ({
        ...workflow(messageId),
        action: 'upsertContactTransaction',
        payload: {
          directoryId: 'POOL_1',
          extRef: 'u1',
          transactionDate: '2024-05-01 12:00:00',
          transactionData: {},
        },
      }) as NewItem
    const before = await createPostgresStore({ url: db.url, schema })
    await before.accept([purchase('sent'), purchase('queued')], T0)
    await before.claim({ now: T0, limit: 2, leaseMs: LEASE, owner: 'e' })
    expect(await before.markDelivered(purchase('sent').id, 'e', T0, { transactionId: 'CTR_1' })).toBe(true)
    await before.close()
    // as version 3 left it: no claims table, no circuits table
    await admin.query(
      `DROP TABLE ${schema}.transaction_claims, ${schema}.circuits; DELETE FROM ${schema}.migrations WHERE version >= 4`,
    )
    const store = await createPostgresStore({ url: db.url, schema })
    try {
      const claim = (itemId: string, transactionId: string) =>
        store.claimListedTransaction({ directoryId: 'POOL_1', transactionId, itemId, now: T0 })
      expect(await claim(purchase('queued').id, 'CTR_1')).toBe(false)
      expect(await claim(purchase('sent').id, 'CTR_1')).toBe(true)
      expect(await claim(purchase('queued').id, 'CTR_2')).toBe(true)
      expect(await store.createCircuit().recordFailure(T0, { kind: 'send' })).toMatchObject({
        snapshot: { state: 'closed', failures: 1 },
      })
    } finally {
      await store.close()
    }
  })

  it('refuses a schema written by a newer version', async () => {
    const schema = freshSchema()
    await (await createPostgresStore({ url: db.url, schema })).close()
    await admin.query(`INSERT INTO ${schema}.migrations (version) VALUES (${POSTGRES_SCHEMA_VERSION + 1})`)
    await expect(createPostgresStore({ url: db.url, schema })).rejects.toMatchObject({
      code: 'STORAGE_ERROR',
      retryable: false,
      message: expect.stringContaining('newer than this code supports') as unknown,
    })
  })

  it('fails to open, retryably and without the password, when the server cannot be reached', async () => {
    const url = new URL(db.url)
    url.port = '1'
    url.password = 'hunter2'
    const opening = createPostgresStore({ url: url.href, connectTimeoutMs: 2000 })
    await expect(opening).rejects.toMatchObject({ code: 'STORAGE_ERROR', retryable: true })
    await expect(opening).rejects.not.toThrow(/hunter2/)
  })

  it('lists every bad option, the URL with its password masked', async () => {
    await expect(
      createPostgresStore({
        url: 'mysql://relay:hunter2@db/x',
        schema: 'Bad-Name',
        poolSize: 0,
        statementTimeoutMs: 1.5,
      }),
    ).rejects.toThrowErrorMatchingInlineSnapshot(`
      [ConfigError: Invalid PostgreSQL store options
        - url: must be a postgres:// or postgresql:// URL (Received: mysql://relay:***@db/x)
        - schema: must be a lower-case identifier of letters, digits and _ (Received: "Bad-Name")
        - poolSize: must be an integer > 0 (Received: 0)
        - statementTimeoutMs: must be an integer > 0 (Received: 1.5)]
    `)
  })
})
