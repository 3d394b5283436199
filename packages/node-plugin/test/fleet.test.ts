// App servers in direct mode on one PostgreSQL database are one fleet: two processes, each with real
// analytics-node and the plugin, deliver to one sandbox. With one queue (one schema) they share the
// brand's rate budget and the locks around contact creates, as proxies on one database do; the sandbox
// is the referee. Control runs put each process on a schema of its own (a bucket and locks each, what
// every instance had before it shared them) and the same checks fail. And a plugin that closes hands its
// leases back at once.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createQualtricsNodePlugin, PluginTimeoutError } from '@qualtrics-relay/node-plugin'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { Analytics } from '@segment/analytics-node'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../../../test-support/postgres'

const SCRIPT = fileURLToPath(new URL('./fixtures/fleet-instance.ts', import.meta.url))
const db = await createTestDatabase()
const NO_MERGING = {
  directories: [{ name: 'No merging', mergeRules: [], mailingLists: [{ name: 'Buyers' }] }],
}

let sandbox: RunningSandbox
beforeAll(async () => {
  sandbox = await startSandbox({ port: 0 })
})
afterAll(() => sandbox.close())

interface Instance {
  schema: string
  users: string[]
}

/** Starts every instance, lets them send at the same moment, and waits until each has closed. */
async function runFleet(
  event: 'purchase' | 'identify',
  instances: Instance[],
  rate: { perMinute: number; burst: number },
): Promise<void> {
  const children = instances.map((instance, i) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: {
        ...process.env,
        INSTANCE: String(i),
        EVENT: event,
        USERS: instance.users.join(','),
        DATABASE_URL: db.url,
        SCHEMA: instance.schema,
        PER_MINUTE: String(rate.perMinute),
        BURST: String(rate.burst),
        QUALTRICS_TOKEN: sandbox.token,
        QUALTRICS_URL: sandbox.url,
        DIRECTORY_ID: sandbox.directoryId,
        MAILING_LIST_ID: sandbox.mailingListId,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    // A process that does not finish is a failure, not a hang of the test run.
    const guard = setTimeout(() => child.kill('SIGKILL'), 90_000)
    const lines = createInterface({ input: child.stdout })
    const ready = new Promise<void>((resolve) => lines.once('line', () => resolve()))
    const report = new Promise<{ errors: string[] }>((resolve, reject) => {
      lines.on('line', (line) => {
        if (line.startsWith('{')) resolve(JSON.parse(line) as { errors: string[] })
      })
      child.once('exit', (code) => {
        clearTimeout(guard)
        reject(new Error(`instance ${i} exited ${code}: ${stderr}`))
      })
    })
    return { child, ready, report }
  })
  await Promise.all(children.map((c) => c.ready))
  for (const { child } of children) child.stdin.end('go\n')
  const reports = await Promise.all(children.map((c) => c.report))
  expect(reports).toEqual(instances.map(() => ({ errors: [] })))
}

const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

/** Contacts per user (extRef) in the sandbox's directory. */
function contactsPerUser(): Map<string, number> {
  const perUser = new Map<string, number>()
  for (const c of sandbox.inspect().contacts.filter((c) => c.directoryId === sandbox.directoryId))
    if (c.extRef !== undefined) perUser.set(c.extRef, (perUser.get(c.extRef) ?? 0) + 1)
  return perUser
}

/** Rows of a schema's table matching `where`. */
async function rows(schema: string, table: string, where = 'true'): Promise<number> {
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    const result = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${schema}.${table} WHERE ${where}`,
    )
    return result.rows[0]?.n ?? 0
  } finally {
    await client.end()
  }
}

const rateLimited = () => sandbox.inspect().requests.filter((r) => r.status === 429).length

// Processes start (tsx) and run for seconds: generous bounds for a loaded machine.
describe('two app servers in direct mode on one PostgreSQL database', { timeout: 120_000 }, () => {
  // Both send a purchase for each of the same new users at once. A create is applied 2 s after it
  // arrives, so an instance that looks a user up meanwhile (even one that started late on a loaded
  // machine) finds nothing; the directory merges nothing (every create adds a contact).
  const USERS = range('user-', 12)
  const overlapping = async (schemas: [string, string]) => {
    sandbox.reset(NO_MERGING)
    sandbox.setFaults([{ kind: 'latency', ms: 2_000, route: 'createContact' }])
    await runFleet(
      'purchase',
      schemas.map((schema) => ({ schema, users: USERS })),
      { perMinute: 60_000, burst: 100 },
    )
    expect(sandbox.inspect().transactions).toHaveLength(2 * USERS.length)
    return contactsPerUser()
  }

  it('create one contact per user for overlapping new users', async () => {
    const perUser = await overlapping(['fleet_contacts', 'fleet_contacts'])
    expect([...perUser.keys()].sort()).toEqual([...USERS].sort())
    expect([...perUser.values()].every((n) => n === 1)).toBe(true)
  })

  it('has teeth: with locks of their own (a schema each) they create duplicates', async () => {
    const perUser = await overlapping(['own_contacts_a', 'own_contacts_b'])
    expect([...perUser.values()].some((n) => n > 1)).toBe(true)
  })

  // The sandbox's brand limit is the fleet's: 600 requests a minute (10 a second), a bucket of 10.
  // Each instance is configured with that whole limit and a burst of 3, and sends 20 new contacts (a
  // search and a create each, 80 requests in all); alone, each could send far faster.
  const LIMIT = { perMinute: 600, burst: 10 }
  const throughOneLimit = async (schemas: [string, string]) => {
    sandbox.reset()
    sandbox.setRateLimit({ perMinute: LIMIT.perMinute, burst: LIMIT.burst })
    await runFleet(
      'identify',
      schemas.map((schema, i) => ({ schema, users: range(`buyer-${i}-`, 20) })),
      { perMinute: LIMIT.perMinute, burst: 3 },
    )
    expect(contactsPerUser().size).toBe(40)
  }

  it('keep their combined request rate within the brand limit: the sandbox answers no 429', async () => {
    await throughOneLimit(['fleet_budget', 'fleet_budget'])
    expect(rateLimited()).toBe(0)
    expect(sandbox.inspect().requests.filter((r) => r.route === 'createContact')).toHaveLength(40)
  })

  it('has teeth: with a bucket each (a schema each) they send twice the limit and get 429s', async () => {
    await throughOneLimit(['own_budget_a', 'own_budget_b'])
    expect(rateLimited()).toBeGreaterThan(0)
  })

  it('hand back what they hold on close, even while a contact create is on the wire: no item lease, no contact lock left', async () => {
    sandbox.reset(NO_MERGING)
    // The create is applied 2 s after it arrives; close gives up waiting for delivery after 300 ms.
    sandbox.setFaults([{ kind: 'latency', ms: 2_000, route: 'createContact' }])
    const schema = 'fleet_close'
    const plugin = createQualtricsNodePlugin({
      apiToken: sandbox.token,
      baseUrl: sandbox.url,
      mappings: [
        {
          id: 'purchase',
          action: 'upsertContactTransaction',
          fields: { directoryId: sandbox.directoryId, mailingListId: sandbox.mailingListId },
        },
      ],
      storage: { databaseUrl: db.url, schema },
      delivery: { transactionLingerMs: 20 },
    })
    const analytics = new Analytics({ writeKey: 'offline', disable: true, flushAt: 1 })
    await analytics.register(plugin)
    analytics.track({ userId: 'closing-user', messageId: 'closing-1', event: 'Transaction Created' })
    // Closed while the create is on the wire, under the user's contact lock.
    for (let i = 0; i < 500 && sandbox.inspect().inFlight === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 20))
    expect(await rows(schema, 'key_leases')).toBeGreaterThan(0)
    await expect(plugin.close({ timeoutMs: 300 })).rejects.toBeInstanceOf(PluginTimeoutError)
    // Another app server can take the user and the item over at once.
    expect(await rows(schema, 'key_leases')).toBe(0)
    expect(await rows(schema, 'items', `state = 'leased' OR lease_owner IS NOT NULL`)).toBe(0)
  })
})
