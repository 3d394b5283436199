// A real proxy process on PostgreSQL, sent SIGTERM while it creates a new user's contact (the create
// is on the wire, past the drain time): it exits 0 and leaves nothing leased, neither the item nor the
// user's contact lock, so another instance takes the item over at once instead of after the leases
// (60 s, 30 s) run out — and finds the contact the stopped one created instead of creating another.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../../../test-support/postgres'
import {
  ADMIN_TOKEN,
  defaultWriteKeys,
  delivered,
  FAST_DELIVERY,
  postBatch,
  purchaseItem,
  startHarness,
  tempDir,
  waitFor,
} from './helpers'

const BIN = fileURLToPath(new URL('../bin/qualtrics-relay-proxy.js', import.meta.url))
const db = await createTestDatabase()
const SCHEMA = 'sigterm'

let sandbox: RunningSandbox
let admin: pg.Client
const dir = tempDir()
beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, host: '127.0.0.1' })
  admin = new pg.Client({ connectionString: db.url })
  await admin.connect()
})
afterAll(async () => {
  await admin.end()
  await sandbox.close()
  dir.remove()
})

/** The proxy's executable with a config file, on the test database; resolves its URL once it listens. */
function startProcess() {
  const config = join(dir.path, 'relay.json')
  writeFileSync(
    config,
    JSON.stringify({
      server: { port: 0, host: '127.0.0.1' },
      storage: { schema: SCHEMA },
      // A short drain and a long request timeout: the create outlives the drain.
      delivery: { ...FAST_DELIVERY, drainMs: 200, requestTimeoutMs: 20_000 },
      rateLimits: { perIp: false, perWriteKey: false },
      writeKeys: defaultWriteKeys(sandbox),
    }),
  )
  const child = spawn(process.execPath, [BIN, 'start', '--config', config], {
    env: {
      ...process.env,
      QUALTRICS_API_TOKEN: sandbox.token,
      QUALTRICS_BASE_URL: sandbox.url,
      RELAY_ADMIN_TOKEN: ADMIN_TOKEN,
      DATABASE_URL: db.url,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  child.stdout.resume()
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const url = waitFor(() => /listening on (http:\/\/[^\s,]+)/.exec(stderr)?.[1], 20_000)
  return { child, url, exited }
}

const count = async (sql: string) => (await admin.query<{ n: number }>(sql)).rows[0]?.n

describe('the proxy on PostgreSQL, stopped by SIGTERM during delivery', () => {
  it('exits 0 holding no item lease and no contact lock; the next instance delivers at once, with one contact', async () => {
    // Creates are applied 3 s after they arrive: the stop comes while one is on the wire.
    sandbox.setFaults([{ kind: 'latency', ms: 3_000, route: 'createContact' }])
    const proxy = startProcess()
    const url = await proxy.url
    const item = purchaseItem(sandbox)
    expect((await postBatch(url, { writeKey: 'wk_test', items: [item] })).status).toBe(202)
    await waitFor(async () =>
      sandbox.inspect().inFlight > 0 &&
      ((await count(`SELECT count(*)::int AS n FROM ${SCHEMA}.key_leases`)) ?? 0) > 0
        ? true
        : undefined,
    )
    proxy.child.kill('SIGTERM')
    expect(await proxy.exited).toBe(0)

    expect(await count(`SELECT count(*)::int AS n FROM ${SCHEMA}.key_leases`)).toBe(0)
    expect(
      await count(
        `SELECT count(*)::int AS n FROM ${SCHEMA}.items WHERE state = 'leased' OR lease_owner IS NOT NULL`,
      ),
    ).toBe(0)

    // The next instance takes the item at once (its lease and the user's lock are free) and finds the
    // contact the stopped one created.
    sandbox.setFaults([])
    const next = await startHarness({
      env: { DATABASE_URL: db.url },
      config: { storage: { schema: SCHEMA } },
      sandbox,
    })
    try {
      // (well within the 30 s a dead holder's contact lock and the 60 s its item lease would take)
      await delivered(next.url, item.messageId, 'wk_test', 10_000)
    } finally {
      await next.close()
    }
    expect(sandbox.inspect().contacts.filter((c) => c.extRef === item.payload.extRef)).toHaveLength(1)
  })
})
