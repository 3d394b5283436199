// `pnpm start:cluster` on free ports, as a process of its own, with no browser: the site's page is
// pointed at the balancer and shows the fleet panel; events sent through the balancer as the page sends
// them reach the sandbox once each, also after an instance is killed with the panel's button (its API,
// through the site); the panel's state shows the kill; the instance starts again; and SIGINT stops
// everything: no PostgreSQL and no proxy left running, the database's files removed.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { SandboxSnapshot } from '@qualtrics-relay/sandbox'
import { afterAll, expect, it } from 'vitest'
import { waitFor } from '../../../reliability/lib/relay'
import { isRunning } from '../../../test-support/embedded-postgres'
import type { ClusterState } from '../scripts/cluster/panel-api'
import { SITE_ROOT } from '../scripts/vite-options'

const REPO_ROOT = join(SITE_ROOT, '..', '..')
/** Generous: three proxies and a PostgreSQL cluster start on a machine shared by many. */
const START_MS = 120_000
const STEP_MS = 60_000

/** The environment without anything that would point the launcher elsewhere. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(QUALTRICS_|RELAY_|VITE_)|^(WEB_PORT|SANDBOX_PORT|PANEL_PORT|DATABASE_URL)$/.test(key))
      env[key] = value
  }
  return env
}

let launcher: ChildProcessWithoutNullStreams | undefined
let output = ''
afterAll(async () => {
  if (launcher && launcher.exitCode === null && launcher.signalCode === null) {
    const gone = new Promise((resolve) => launcher?.once('exit', resolve))
    launcher.kill('SIGINT')
    await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 30_000))])
    launcher.kill('SIGKILL')
  }
})

async function json<T>(url: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(url, init)
  return { status: response.status, body: (await response.json()) as T }
}

const post = (url: string, origin?: string) =>
  json<{ instance?: { state: string; pid: number | null }; error?: { code: string; message: string } }>(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(origin === undefined ? {} : { Origin: origin }) },
    body: '{}',
  })

it(
  'delivers through the balancer while an instance is killed, shows it, and stops everything on SIGINT',
  async () => {
    launcher = spawn(
      process.execPath,
      ['--import', 'tsx', 'examples/web/scripts/start-cluster.ts', '--free-ports'],
      {
        cwd: REPO_ROOT,
        env: cleanEnv(),
      },
    )
    const child = launcher
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    )
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))

    const panel = await waitFor(
      'the launcher to print the panel API',
      () => {
        if (child.exitCode !== null) throw new Error(`the launcher exited: ${output}`)
        return /Panel API\s+(\S+)\/state/.exec(output)?.[1]
      },
      START_MS,
      100,
    )
    const state = async () => (await json<ClusterState>(`${panel}/state`)).body
    const first = await state()
    expect(first.instances.map((i) => [i.id, i.state])).toEqual([
      ['proxy-1', 'up'],
      ['proxy-2', 'up'],
      ['proxy-3', 'up'],
    ])
    const sandbox = first.sandbox.url
    const site = first.site.url
    const siteOrigin = new URL(site).origin

    // The page is told the balancer's address and to show the fleet panel.
    const page = await (await fetch(`${site}src/main.ts`)).text()
    expect(page).toContain(`"VITE_RELAY_PROXY_URL": ${JSON.stringify(first.balancer.url)}`)
    expect(page).toContain('"VITE_RELAY_CLUSTER": "1"')
    // ...and reads the panel's API through the site, as the panel does.
    const throughSite = `${site}__cluster`
    expect((await json<ClusterState>(`${throughSite}/state`)).body.postgres).toEqual(first.postgres)
    const { body: info } = await json<{ directoryId: string; mailingListId: string }>(
      `${sandbox}/__sandbox/info`,
    )

    /** One purchase per batch, through the balancer, as the shop's page sends them. */
    async function buy(orders: string[]): Promise<void> {
      for (const orderId of orders) {
        const response = await fetch(`${first.balancer.url}/v1/batch`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Origin: siteOrigin },
          body: JSON.stringify({
            writeKey: 'wk_demo',
            items: [
              {
                messageId: `msg-${orderId}`,
                mapping: 'demo-transaction',
                action: 'upsertContactTransaction',
                payload: {
                  directoryId: info.directoryId,
                  mailingListId: info.mailingListId,
                  extRef: `user-${orderId}`,
                  email: `${orderId}@example.com`,
                  transactionDate: '2026-01-01T10:00:00Z',
                  transactionData: { orderId, total: 10 },
                },
              },
            ],
          }),
        })
        expect(response.status, await response.text()).toBe(202)
      }
    }
    const arrived = (orders: string[]) =>
      waitFor(
        `${orders.length} orders in the sandbox`,
        async () => {
          const { body } = await json<SandboxSnapshot>(`${sandbox}/__sandbox/state`)
          const found = orders.filter((o) => body.transactions.some((t) => t.data.orderId === o))
          return found.length === orders.length ? body : undefined
        },
        STEP_MS,
        250,
      )

    const before = Array.from({ length: 6 }, (_, n) => `before-${n}`)
    await buy(before)
    await arrived(before)
    // The shared bucket, as the instances report it in /metrics.
    const bucket = await waitFor(
      'the shared bucket in the state',
      async () => {
        const b = (await state()).bucket
        return 'level' in b ? b : undefined
      },
      STEP_MS,
      250,
    )
    expect(bucket).toMatchObject({ burst: 20, requestsPerMinute: 600, rateFactor: 1 })
    expect(bucket.level).toBeGreaterThanOrEqual(0)
    expect(bucket.level).toBeLessThanOrEqual(20)

    // The panel's API refuses what it cannot do, saying what it got.
    const unknown = await post(`${panel}/instances/proxy-9/kill`)
    expect(unknown.status).toBe(404)
    expect(unknown.body.error?.message).toContain('(Received: "proxy-9")')
    const notJson = await fetch(`${panel}/instances/proxy-2/kill`, { method: 'POST' })
    expect(notJson.status).toBe(415)
    expect((await fetch(`${panel}/burst`)).status).toBe(405)
    const foreign = await post(`${panel}/instances/proxy-2/kill`, 'http://elsewhere.example')
    expect(foreign.status).toBe(403)

    const victim = first.instances.find((i) => i.id === 'proxy-2')
    const killed = await post(`${throughSite}/instances/proxy-2/kill`, siteOrigin)
    expect(killed.status).toBe(200)
    expect(killed.body.instance).toMatchObject({ state: 'killed', pid: null })
    expect(isRunning(victim?.pid ?? -1)).toBe(false)
    const afterKill = await state()
    expect(afterKill.instances.map((i) => [i.id, i.state])).toEqual([
      ['proxy-1', 'up'],
      ['proxy-2', 'killed'],
      ['proxy-3', 'up'],
    ])
    expect((await post(`${panel}/instances/proxy-2/kill`)).body.error?.code).toBe('ALREADY_DOWN')

    const during = Array.from({ length: 6 }, (_, n) => `during-${n}`)
    await buy(during)
    const snapshot = await arrived(during)
    const orders = [...before, ...during]
    for (const order of orders) {
      expect(
        snapshot.transactions.filter((t) => t.data.orderId === order),
        order,
      ).toHaveLength(1)
    }
    expect(Object.values(snapshot.transactionKeyCounts).filter((n) => n !== 1)).toEqual([])

    const restarted = await post(`${panel}/instances/proxy-2/restart`)
    expect(restarted.status).toBe(202)
    expect(restarted.body.instance?.state).toBe('starting')
    const up = await waitFor(
      'proxy-2 up again',
      async () => (await state()).instances.find((i) => i.id === 'proxy-2' && i.state === 'up'),
      STEP_MS,
      250,
    )
    expect(up.pid).not.toBe(victim?.pid)

    const last = await state()
    child.kill('SIGINT')
    expect(await exited).toEqual({ code: 0, signal: null })
    expect(isRunning(last.postgres.pid)).toBe(false)
    expect(existsSync(last.postgres.dir)).toBe(false)
    for (const instance of last.instances) expect(isRunning(instance.pid ?? -1), instance.id).toBe(false)
  },
  START_MS + 4 * STEP_MS,
)
