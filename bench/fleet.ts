// `pnpm bench fleet` (issue 15): the proxy as a fleet — real proxy processes (started as an operator
// starts them) on one PostgreSQL database behind the loopback round-robin balancer, the sandbox in a
// process of its own. Each figure stands beside its baseline from the same run:
//  1. draining 20,000 new contacts with three instances under a brand limit scaled 5× in time
//     (15,000 requests/min) vs the minimum that limit allows;
//  2. ingest: batches accepted per second with one and two instances on PostgreSQL, beside one instance
//     on SQLite (the zero-setup default).
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { SandboxSnapshot } from '@qualtrics-relay/sandbox'
import { spawnProxy, type ChildProxy } from '../reliability/lib/child-proxy'
import {
  contactItem,
  freePort,
  postBatch,
  purchaseItem,
  relayConfig,
  type BatchItem,
  type Target,
} from '../reliability/lib/relay'
import { startBalancer, type Balancer } from '../test-support/balancer'
import { startEmbeddedPostgres, type EmbeddedServer } from '../test-support/embedded-postgres'
import { fmt, percentile, type BenchSection } from './lib'
import { startSandboxProcess, type SandboxIds } from './sandbox-child'

const CONTACTS = 20_000
/** The brand limit, 3,000/min scaled 5× in time, and its bucket. */
const BRAND_PER_MINUTE = 15_000
const BRAND_BURST = 50
/** The fleet's shared budget: 95 % of the brand's rate; half its bucket (a request arrives a little
 * after its token was granted, and that delay varies). */
const FLEET_PER_MINUTE = 0.95 * BRAND_PER_MINUTE
const FLEET_BURST = 25

interface Fleet {
  proxies: ChildProxy[]
  balancer: Balancer
  close(): Promise<void>
}

/** `count` proxy processes with one storage section, started side by side, behind one balancer. */
async function startFleet(
  dir: string,
  target: Target,
  sandbox: SandboxIds,
  count: number,
  storage: (n: number) => Record<string, unknown>,
  delivery: Record<string, unknown> = {},
  env: Record<string, string> = {},
): Promise<Fleet> {
  const proxies = await Promise.all(
    Array.from({ length: count }, async (_, n) => {
      const port = await freePort()
      const own = mkdtempSync(join(dir, 'proxy-'))
      const proxy = spawnProxy({
        dir: own,
        config: relayConfig(target, { port, storage: storage(n), delivery, logLevel: 'warn' }),
        env: { QUALTRICS_API_TOKEN: sandbox.token, QUALTRICS_BASE_URL: sandbox.url, ...env },
      })
      await proxy.ready(120_000)
      return proxy
    }),
  )
  const balancer = await startBalancer({ targets: proxies.map((p) => p.url) })
  return {
    proxies,
    balancer,
    close: async () => {
      await balancer.close()
      for (const p of proxies) p.kill('SIGTERM')
      await Promise.all(proxies.map((p) => p.exited))
    },
  }
}

function targetOf(sandbox: SandboxIds): Target {
  return {
    directoryId: sandbox.directoryId,
    mailingListId: sandbox.mailingListId,
    workflowUrl: sandbox.workflowUrl,
  }
}

async function sandboxState(sandbox: SandboxIds): Promise<SandboxSnapshot> {
  const answer = await fetch(`${sandbox.url}/__sandbox/state`)
  return (await answer.json()) as SandboxSnapshot
}

async function createDatabase(server: EmbeddedServer, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: server.adminUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = new URL(server.adminUrl)
  url.pathname = `/${name}`
  return url.href
}

/** Posts `batches` through `url`, `inFlight` at a time; each must be answered 202. */
async function send(url: string, batches: BatchItem[][], inFlight: number): Promise<number[]> {
  const latencies: number[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < batches.length) {
        const items = batches[next++] as BatchItem[]
        const started = performance.now()
        const answer = await postBatch(url, items, { timeoutMs: 60_000 })
        if (answer.status !== 202) throw new Error(`POST /v1/batch answered ${answer.status}: ${answer.text}`)
        latencies.push(performance.now() - started)
      }
    }),
  )
  return latencies.sort((a, b) => a - b)
}

/** One way to run the three instances for the drain. */
interface DrainSetup {
  name: string
  contacts: number
  /** Each process its own budget of a third of the fleet's (the static "divide by N" split). */
  perProcess?: boolean
  maxConcurrentRequests?: number
}

interface DrainResult {
  seconds: number
  minimum: number
  acceptedSeconds: number
  latencies: number[]
  perInstance: number[]
  contacts: number
  distinct: number
  ok: number
  limited: number
  /** Qualtrics requests per second while the POSTs were still being accepted, and after. */
  whileAccepting: number
  afterAccepting: number
}

/** Drains `setup.contacts` new contacts through three instances on a fresh sandbox and database. */
async function drain(
  dir: string,
  server: EmbeddedServer,
  setup: DrainSetup,
  n: number,
): Promise<DrainResult> {
  const { sandbox, close: closeSandbox } = await startSandboxProcess({
    rateLimit: { perMinute: BRAND_PER_MINUTE, burst: BRAND_BURST },
    requestLogLimit: setup.contacts * 2,
  })
  const target = targetOf(sandbox)
  const url = await createDatabase(server, `bench_drain_${n}`)
  const fleet = await startFleet(
    dir,
    target,
    sandbox,
    3,
    () => ({ url }),
    {
      requestsPerMinute: setup.perProcess === true ? FLEET_PER_MINUTE / 3 : FLEET_PER_MINUTE,
      burst: setup.perProcess === true ? Math.floor(FLEET_BURST / 3) : FLEET_BURST,
      ...(setup.maxConcurrentRequests === undefined
        ? {}
        : { maxConcurrentRequests: setup.maxConcurrentRequests }),
    },
    setup.perProcess === true ? { RELAY_TEST_ONLY_PER_PROCESS_LIMITS: '1' } : {},
  )
  const db = new pg.Client({ connectionString: url })
  await db.connect()
  try {
    const batches = Array.from({ length: setup.contacts / 100 }, (_, b) =>
      Array.from({ length: 100 }, (_, i) => contactItem(target, `drain-${b}-${i}`, `person-${b * 100 + i}`)),
    )
    const started = performance.now()
    const startedAt = Date.now()
    const latencies = await send(fleet.balancer.url, batches, 8)
    const acceptedSeconds = (performance.now() - started) / 1000
    const acceptedAt = Date.now()
    for (;;) {
      const { rows } = await db.query<{ n: string }>(
        `SELECT count(*) AS n FROM qualtrics_relay.items WHERE state = 'delivered'`,
      )
      if (Number(rows[0]?.n) >= setup.contacts) break
      if (performance.now() - started > 600_000) throw new Error('the fleet did not deliver within 600 s')
      await new Promise((r) => setTimeout(r, 250))
    }
    const seconds = (performance.now() - started) / 1000
    const state = await sandboxState(sandbox)
    const statuses = (code: number) => state.requests.filter((r) => r.status === code).length
    const doneAt = startedAt + seconds * 1000
    const sentBefore = state.requests.filter((r) => Date.parse(r.time) < acceptedAt).length
    return {
      whileAccepting: sentBefore / ((acceptedAt - startedAt) / 1000),
      afterAccepting: (state.requests.length - sentBefore) / Math.max(0.001, (doneAt - acceptedAt) / 1000),
      seconds,
      minimum: (setup.contacts - BRAND_BURST) / (BRAND_PER_MINUTE / 60),
      acceptedSeconds,
      latencies,
      perInstance: Object.values(fleet.balancer.stats().targets).map((s) => s.requests),
      contacts: state.contacts.length,
      distinct: new Set(state.contacts.map((c) => c.extRef)).size,
      ok: statuses(200),
      limited: statuses(429),
    }
  } finally {
    await db.end()
    await fleet.close()
    await closeSandbox()
  }
}

/** Baselines run on fewer contacts (shorter, so the machine's load shifts less between them). */
const BASELINE_CONTACTS = 5_000

async function benchDrain(dir: string, server: EmbeddedServer): Promise<string> {
  const shared: DrainSetup = { name: 'shared budget (as shipped)', contacts: BASELINE_CONTACTS }
  const baselines: DrainSetup[] = [
    { name: 'per-process budgets of rate/3 (divide by N)', contacts: BASELINE_CONTACTS, perProcess: true },
    {
      name: 'shared budget, maxConcurrentRequests 30',
      contacts: BASELINE_CONTACTS,
      maxConcurrentRequests: 30,
    },
  ]
  let n = 0
  const headline = await drain(dir, server, { name: 'headline', contacts: CONTACTS }, n++)
  // Interleaved: shared, baselines, shared again, so a shift of the machine's load shows between them.
  const rounds: [DrainSetup, DrainResult][] = []
  for (const setup of [shared, ...baselines, shared])
    rounds.push([setup, await drain(dir, server, setup, n++)])
  const row = ([setup, r]: [DrainSetup, DrainResult]) =>
    `| ${setup.name} | ${fmt(setup.contacts)} | ${r.seconds.toFixed(1)} s | ${r.minimum.toFixed(1)} s | **${(r.seconds / r.minimum).toFixed(2)}×** | ${r.acceptedSeconds.toFixed(1)} s | ${r.whileAccepting.toFixed(0)} / ${r.afterAccepting.toFixed(0)} | ${r.limited} |`
  const end = loadavg().map((x) => x.toFixed(1))
  const ratioOf = (r: DrainResult) => r.seconds / r.minimum
  const sharedMean = (ratioOf(rounds[0]![1]) + ratioOf(rounds[rounds.length - 1]![1])) / 2
  return [
    `${fmt(CONTACTS)} new contacts (identify events: one create request each, nothing to batch) posted in`,
    `batches of 100 through the balancer (${headline.perInstance.join(' / ')} batches per instance) to three proxy`,
    `processes on one PostgreSQL database (embedded PostgreSQL 18 on the same machine). The sandbox limits`,
    `the brand to ${fmt(BRAND_PER_MINUTE)} requests/min (3,000/min scaled 5× in time) with a bucket of`,
    `${BRAND_BURST}; the fleet shares one budget of 95 % of that rate with a bucket of ${FLEET_BURST}. The`,
    'minimum is what the brand limit allows for the same requests: (creates − bucket) / rate.',
    '',
    '| | time |',
    '|---|---|',
    `| minimum the limit allows | ${headline.minimum.toFixed(1)} s |`,
    `| three instances, from the first POST until every item is delivered (all in the sandbox) | ${headline.seconds.toFixed(1)} s (**${(headline.seconds / headline.minimum).toFixed(2)}×**) |`,
    '',
    `All ${fmt(CONTACTS)} accepted after ${headline.acceptedSeconds.toFixed(1)} s (p50 ${percentile(headline.latencies, 50).toFixed(0)} ms, p99 ${percentile(headline.latencies, 99).toFixed(0)} ms per batch).`,
    `Contacts in the sandbox: ${fmt(headline.contacts)} (${fmt(headline.distinct)} distinct extRefs). Requests answered 200: ${fmt(headline.ok)}; answered 429: ${headline.limited}.`,
    'Target ≤ 1.1×; with the fleet at 95 % of the brand limit the floor is 1.05× by design.',
    '',
    `Baselines from the same run, each on a fresh sandbox and database with ${fmt(BASELINE_CONTACTS)} contacts`,
    '(fewer than the headline, to keep them short), run one after another with the shared setup before and after:',
    'the per-process row gives each instance its own budget of a third of the fleet rate',
    '(`RELAY_TEST_ONLY_PER_PROCESS_LIMITS=1`, no shared budget, locks or circuit); the last row lifts each',
    "instance's limit on Qualtrics requests in flight (`delivery.maxConcurrentRequests`, default 10).",
    '',
    `| three instances | contacts | time | minimum | ratio | all accepted after | Qualtrics requests/s while accepting / after (fleet budget ${(FLEET_PER_MINUTE / 60).toFixed(0)}/s) | 429s |`,
    '|---|---|---|---|---|---|---|---|',
    row([{ name: 'headline: shared budget (as shipped)', contacts: CONTACTS }, headline]),
    ...rounds.map(row),
    '',
    `Each baseline's ratio over the mean ratio of the two shared rounds: ${baselines
      .map((b, i) => `${b.name} ${(ratioOf(rounds[i + 1]![1]) / sharedMean).toFixed(2)}×`)
      .join('; ')} (below 1: the baseline is faster).`,
    '',
    `Load average after the drains: ${end.join(' / ')}.`,
  ].join('\n')
}

interface IngestRound {
  batchesPerSecond: number
  p50: number
  p99: number
}

async function benchIngest(dir: string, server: EmbeddedServer): Promise<string> {
  const { sandbox, close: closeSandbox } = await startSandboxProcess()
  const target = targetOf(sandbox)
  const url = await createDatabase(server, 'bench_ingest')
  const setups = [
    {
      name: 'one instance, SQLite (the default)',
      fleet: await startFleet(dir, target, sandbox, 1, () => ({ path: join(dir, 'ingest.db') })),
    },
    { name: 'one instance, PostgreSQL', fleet: await startFleet(dir, target, sandbox, 1, () => ({ url })) },
    { name: 'two instances, PostgreSQL', fleet: await startFleet(dir, target, sandbox, 2, () => ({ url })) },
  ]
  const BATCHES = 400
  let counter = 0
  const batches = () =>
    Array.from({ length: BATCHES }, () =>
      Array.from({ length: 20 }, () => {
        const n = ++counter
        return purchaseItem(target, `ingest-${n}`, `user-${n % 1000}`)
      }),
    )
  const round = async (base: string): Promise<IngestRound> => {
    const started = performance.now()
    const latencies = await send(base, batches(), 16)
    return {
      batchesPerSecond: BATCHES / ((performance.now() - started) / 1000),
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
    }
  }
  try {
    for (const s of setups) await round(s.fleet.balancer.url) // warm-up
    const results = setups.map(() => [] as IngestRound[])
    // Alternating rounds, medians: one round swings by ±30 % on this shared machine.
    for (let r = 0; r < 3; r++)
      for (const [i, s] of setups.entries()) results[i]!.push(await round(s.fleet.balancer.url))
    const median = (rs: IngestRound[], pick: (x: IngestRound) => number) =>
      rs.map(pick).sort((a, b) => a - b)[1] as number
    const baseline = median(results[0]!, (x) => x.batchesPerSecond)
    const rows = setups.map((s, i) => {
      const rs = results[i]!
      const rate = median(rs, (x) => x.batchesPerSecond)
      return `| ${s.name} | ${fmt(rate)} | ${(rate / baseline).toFixed(2)}× | ${median(rs, (x) => x.p50).toFixed(1)} ms | ${median(rs, (x) => x.p99).toFixed(1)} ms |`
    })
    return [
      `Batches of 20 transaction items, 16 in flight, ${BATCHES} per round, through the balancer in every`,
      'setup (so each pays the same extra hop). The proxies validate and commit every item before answering',
      '202 (SQLite: WAL, synchronous FULL, a temp file; PostgreSQL: embedded PostgreSQL 18 on the same machine',
      'with fsync off, as in the tests); delivery to the sandbox (rate limit off) runs meanwhile. One warm-up',
      'round each, then three alternating rounds; medians.',
      '',
      '| setup | batches/s | vs SQLite | p50 | p99 |',
      '|---|---|---|---|---|',
      ...rows,
      '',
      'On one machine every instance, the database, the sandbox and the load generator share the same two',
      'cores, so a second instance adds no CPU here: the figure shows what an instance costs, not how a fleet',
      'on separate machines scales.',
    ].join('\n')
  } finally {
    for (const s of setups) await s.fleet.close()
    await closeSandbox()
  }
}

function machine(): string {
  const list = cpus()
  const load = loadavg().map((x) => x.toFixed(1))
  return `Machine: ${list.length} × ${list[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average at the start ${load.join(' / ')} (1 / 5 / 15 min: the machine is shared).`
}

export async function runFleetBench(): Promise<BenchSection[]> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-fleet-bench-'))
  const server = await startEmbeddedPostgres()
  try {
    const stated = machine()
    const drain = await benchDrain(dir, server)
    const ingest = await benchIngest(dir, server)
    return [
      {
        title: 'Fleet: draining 20,000 new contacts under the brand limit, three instances',
        command: 'pnpm bench fleet',
        markdown: `${drain}\n\n${stated}`,
      },
      {
        title: 'Fleet: ingest with one and two instances on PostgreSQL, beside SQLite',
        command: 'pnpm bench fleet',
        markdown: `${ingest}\n\n${stated}`,
      },
    ]
  } finally {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
