// Sustained load: the proxy runs as a real child process (SQLite, info logs to a file) in front of the
// sandbox. Its capacity is measured first (closed loop: 8 senders, batches of 10 items, 10 s), then
// batches arrive on a fixed schedule at 90 % of that rate for 60 s. During the minute the proxy's
// memory is read from its own /metrics (resident set and V8 heap); it must stay bounded — the peak of
// the second half no more than 25 % above the peak of the first half, plus 32 MiB. Deliveries lag
// behind intake (the sandbox shares a core with the load generator), so a backlog builds up; once it
// is delivered, the median latency at a light load must be back to its value before the minute (at
// most twice it, plus 5 ms), and every accepted item must be in the sandbox exactly once.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnProxy, type ChildProxy } from './lib/child-proxy'
import { countDeliveries, repeatedTransactionKeys, type Sent } from './lib/deliveries'
import { figure } from './lib/figures'
import {
  ADMIN_TOKEN,
  freePort,
  itemOf,
  postBatch,
  readMetrics,
  relayConfig,
  resultsOf,
  targetOf,
  waitFor,
  type Kind,
  type Target,
} from './lib/relay'
import { createRng, type Rng } from './lib/rng'
import { mean, percentile, sleep, slope } from './lib/stats'

const SEED = 60_000
const CAPACITY_SECONDS = 10
const LOAD_SECONDS = 60
const LOAD_SHARE = 0.9
const LIGHT_RATE = 20
const LIGHT_SECONDS = 5
const BATCH = 10
const MAX_IN_FLIGHT = 256
const MiB = 2 ** 20

let sandbox: RunningSandbox
let proxy: ChildProxy | undefined
let dir: string
let target: Target
const sent: Sent[] = []
let counter = 0

interface Phase {
  /** When the phase began (performance.now()). */
  began: number
  /** For each accepted batch: when it was sent (ms into the phase) and how long the answer took. */
  timeline: { at: number; ms: number }[]
  sent: number
  ok: number
  failed: number
  skipped: number
  latencies: number[]
  seconds: number
}

interface MemorySample {
  at: number
  rss: number
  heap: number
  /** CPU seconds the proxy used so far. */
  cpu: number
  /** Items delivered so far, and waiting now. */
  delivered: number
  backlog: number
  /** The event loop's lag, p99 over prom-client's sampling window. */
  lagP99: number
  /** POST /v1/batch answered 202 so far, and their total duration in the proxy (seconds). */
  batchCount: number
  batchSeconds: number
}

let capacity: Phase
let before: Phase
let load: Phase
let afterLoad: Phase
let afterDrain: Phase
let memory: MemorySample[] = []
let drainMs = 0
/** Event-loop lag sampled while the backlog drained. */
let drainLag: number[] = []
let rssAfterDrain = 0
/** While the backlog drained: items delivered per second, the proxy's CPU and this process's (the sandbox). */
let drain = { rate: 0, proxyCpu: 0, sandboxCpu: 0 }

function batch(rng: Rng): Sent[] {
  return Array.from({ length: BATCH }, () => {
    const n = ++counter
    const roll = rng.next()
    const kind: Kind = roll < 0.05 ? 'contact' : roll < 0.95 ? 'purchase' : 'workflow'
    const extRef = kind === 'contact' ? `load-c${n}` : `load-u${rng.int(1, 200)}`
    return { kind, item: itemOf(kind, target, `load-${n}`, extRef) }
  })
}

async function sendOne(url: string, rng: Rng, phase: Phase): Promise<void> {
  const items = batch(rng)
  const started = performance.now()
  phase.sent++
  try {
    const answer = await postBatch(
      url,
      items.map((s) => s.item),
      { timeoutMs: 30_000 },
    )
    if (answer.status === 202 && resultsOf(answer).every((r) => r.status === 'accepted')) {
      phase.ok++
      phase.latencies.push(performance.now() - started)
      phase.timeline.push({ at: started - phase.began, ms: performance.now() - started })
      sent.push(...items)
    } else phase.failed++
  } catch {
    phase.failed++
  }
}

const newPhase = (): Phase => ({
  began: performance.now(),
  timeline: [],
  sent: 0,
  ok: 0,
  failed: 0,
  skipped: 0,
  latencies: [],
  seconds: 0,
})

/** Closed loop: `workers` senders back to back for `seconds`. */
async function closedLoop(url: string, workers: number, seconds: number, rng: Rng): Promise<Phase> {
  const phase = newPhase()
  const until = performance.now() + seconds * 1000
  const started = performance.now()
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < until) await sendOne(url, rng, phase)
    }),
  )
  phase.seconds = (performance.now() - started) / 1000
  return phase
}

/** Open loop: one batch every 1/rate s whatever the answers, at most MAX_IN_FLIGHT waiting. */
async function openLoop(
  url: string,
  rate: number,
  seconds: number,
  rng: Rng,
  onTick?: () => void,
): Promise<Phase> {
  const phase = newPhase()
  const started = performance.now()
  const pending = new Set<Promise<void>>()
  for (let n = 0; n < rate * seconds; n++) {
    const due = started + (n / rate) * 1000
    const wait = due - performance.now()
    if (wait > 1) await sleep(wait)
    onTick?.()
    if (pending.size >= MAX_IN_FLIGHT) {
      phase.skipped++
      continue
    }
    const p = sendOne(url, rng, phase).finally(() => pending.delete(p))
    pending.add(p)
  }
  await Promise.all(pending)
  phase.seconds = (performance.now() - started) / 1000
  return phase
}

async function sampleMemory(url: string): Promise<MemorySample | undefined> {
  try {
    const m = await readMetrics(url)
    const rss = m.get('relay_process_resident_memory_bytes')
    const heap = m.get('relay_nodejs_heap_size_used_bytes')
    const cpu = m.get('relay_process_cpu_seconds_total') ?? 0
    const lagP99 = m.get('relay_nodejs_eventloop_lag_p99_seconds') ?? 0
    const batch = '{method="POST",route="/v1/batch",status="202"}'
    const batchCount = m.get(`relay_http_request_duration_seconds_count${batch}`) ?? 0
    const batchSeconds = m.get(`relay_http_request_duration_seconds_sum${batch}`) ?? 0
    let delivered = 0
    for (const [key, value] of m) if (key.startsWith('relay_items_delivered_total')) delivered += value
    const backlog =
      (m.get('relay_queue_depth{state="pending"}') ?? 0) + (m.get('relay_queue_depth{state="leased"}') ?? 0)
    return rss === undefined || heap === undefined
      ? undefined
      : { at: Date.now(), rss, heap, cpu, delivered, backlog, lagP99, batchCount, batchSeconds }
  } catch {
    return undefined
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-load-'))
  sandbox = await startSandbox({ randomSeed: SEED, requestLogLimit: 10 })
  sandbox.setRateLimit({ enabled: false })
  target = targetOf(sandbox)
  const config = relayConfig(target, {
    port: await freePort(),
    storagePath: join(dir, 'relay.db'),
    delivery: {
      requestsPerMinute: 600_000,
      burst: 1_000,
      maxConcurrentRequests: 16,
      transactionLingerMs: 50,
      pollIntervalMs: 100,
      retryBaseMs: 100,
      retryMaxMs: 1_000,
    },
  })
  // The load generator stands for many browsers behind one loopback address, as clients do behind a
  // reverse proxy: lift the per-address connection cap above what it keeps in flight (the README's advice).
  config.server = { ...(config.server as object), maxConnectionsPerAddress: MAX_IN_FLIGHT * 4 }
  proxy = spawnProxy({
    dir,
    config,
    env: {
      QUALTRICS_API_TOKEN: sandbox.token,
      QUALTRICS_BASE_URL: sandbox.url,
      RELAY_ADMIN_TOKEN: ADMIN_TOKEN,
    },
  })
  await proxy.ready()
  const url = proxy.url
  const rng = createRng(SEED)

  await closedLoop(url, 4, 2, rng) // warm-up (JIT, SQLite pages, contact cache)
  before = await openLoop(url, LIGHT_RATE, LIGHT_SECONDS, rng)
  capacity = await closedLoop(url, 8, CAPACITY_SECONDS, rng)
  const rate = Math.max(1, Math.floor((capacity.ok / capacity.seconds) * LOAD_SHARE))

  memory = []
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      const s = await sampleMemory(url)
      if (s) memory.push(s)
      await sleep(2_000)
    }
  })()
  load = await openLoop(url, rate, LOAD_SECONDS, rng)
  sampling = false
  await sampler

  const end = await sampleMemory(url)
  if (end) memory.push(end)
  await sleep(3_000)
  afterLoad = await openLoop(url, LIGHT_RATE, LIGHT_SECONDS, rng)

  const drainStart = Date.now()
  drainLag = []
  const drainSamples: MemorySample[] = []
  const ownCpu = process.cpuUsage()
  const drained = async () => {
    const s = await sampleMemory(url)
    if (s) {
      drainLag.push(s.lagP99)
      drainSamples.push(s)
    }
    return s?.backlog === 0 ? true : undefined
  }
  await waitFor('the backlog to drain', drained, 180_000, 500)
  drainMs = Date.now() - drainStart
  const own = process.cpuUsage(ownCpu)
  const d0 = drainSamples[0]
  const d1 = drainSamples[drainSamples.length - 1]
  if (d0 && d1 && d1.at > d0.at) {
    const seconds = (d1.at - d0.at) / 1000
    drain = {
      rate: (d1.delivered - d0.delivered) / seconds,
      proxyCpu: ((d1.cpu - d0.cpu) / seconds) * 100,
      sandboxCpu: ((own.user + own.system) / 1e6 / (drainMs / 1000)) * 100,
    }
  }
  rssAfterDrain = (await sampleMemory(url))?.rss ?? 0
  afterDrain = await openLoop(url, LIGHT_RATE, LIGHT_SECONDS, rng)
  await waitFor('the last items to drain', drained, 30_000, 200)
  proxy.kill('SIGTERM')
  await proxy.exited
  proxy = undefined
}, 420_000)

afterAll(async () => {
  proxy?.kill('SIGKILL')
  await proxy?.exited
  await sandbox?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('sustained load', () => {
  it('measures its capacity and holds 90 % of it for a minute without refusing a batch', ({ task }) => {
    const capacityRate = capacity.ok / capacity.seconds
    figure(task, 'capacity', 'capacity (closed loop, 8 senders, 10-item batches)', capacityRate, 'batches/s')
    figure(task, 'capacityItems', 'capacity in items', capacityRate * BATCH, 'items/s')
    figure(task, 'capacityP50', 'latency at capacity, median', percentile(capacity.latencies, 50), 'ms')
    figure(task, 'loadRate', 'offered during the minute (90 %)', load.sent / LOAD_SECONDS, 'batches/s')
    figure(task, 'loadAccepted', 'batches accepted during the minute', load.ok)
    figure(task, 'loadFailed', 'batches failed or refused', load.failed)
    figure(task, 'loadSkipped', `batches not sent (over ${MAX_IN_FLIGHT} waiting)`, load.skipped)
    figure(task, 'loadP50', 'latency during the minute, median', percentile(load.latencies, 50), 'ms')
    figure(task, 'loadP99', 'latency during the minute, p99', percentile(load.latencies, 99), 'ms')
    const first = memory[0]
    const last = memory[memory.length - 1]
    if (first && last) {
      const minutes = (last.at - first.at) / 60_000
      figure(
        task,
        'cpu',
        'proxy CPU during the minute',
        ((last.cpu - first.cpu) / (minutes * 60)) * 100,
        '% of a core',
      )
      figure(
        task,
        'deliveredRate',
        'items delivered to the sandbox during the minute',
        (last.delivered - first.delivered) / (minutes * 60),
        'items/s',
      )
      figure(task, 'backlog', 'backlog at the end of the minute', last.backlog, 'items')
      const lag = Math.max(...memory.map((m) => m.lagP99))
      figure(task, 'lag', 'proxy event-loop lag during the minute, worst p99', lag * 1000, 'ms')
      figure(task, 'drainLag', 'the same while the backlog drained', Math.max(0, ...drainLag) * 1000, 'ms')
    }
    const slices = [0, 1, 2, 3, 4, 5].map((i) =>
      percentile(
        load.timeline.filter((t) => t.at >= i * 10_000 && t.at < (i + 1) * 10_000).map((t) => t.ms),
        50,
      ),
    )
    figure(
      task,
      'slices',
      'latency median per 10 s of the minute (measured by the load generator)',
      slices.map((v) => `${Math.round(v)} ms`).join(', '),
    )
    // The proxy's own view (from request to answer inside it), per 10 s, from its histogram.
    const inside: string[] = []
    const t0 = memory[0]?.at ?? 0
    for (let i = 0; i < 6; i++) {
      const inSlice = memory.filter((m) => m.at >= t0 + i * 10_000 && m.at <= t0 + (i + 1) * 10_000)
      const a = inSlice[0]
      const b = inSlice[inSlice.length - 1]
      if (a && b && b.batchCount > a.batchCount) {
        inside.push(
          `${Math.round(((b.batchSeconds - a.batchSeconds) / (b.batchCount - a.batchCount)) * 1000)} ms`,
        )
      }
    }
    figure(task, 'insideSlices', 'the same inside the proxy, mean per 10 s', inside.join(', '))
    expect(load.failed).toBe(0)
    // The open loop never lets more than MAX_IN_FLIGHT batches wait. Skipping some means the proxy
    // could not keep up with 90 % of what it took in the first 10 s (noisy neighbours on a shared
    // machine do that too); skipping more than a tenth would not be a sustained load any more.
    expect(load.skipped).toBeLessThanOrEqual(load.sent * 0.1)
    expect(load.ok).toBeGreaterThan(0)
  })

  it('keeps its memory bounded during the minute', ({ task }) => {
    const warm = memory.filter((m) => m.at - (memory[0]?.at ?? 0) >= 10_000)
    const half = Math.floor(warm.length / 2)
    const first = warm.slice(0, half)
    const second = warm.slice(half)
    const peak = (list: MemorySample[], key: 'rss' | 'heap') => Math.max(...list.map((m) => m[key]))
    const rssFirst = peak(first, 'rss')
    const rssSecond = peak(second, 'rss')
    const heapFirst = peak(first, 'heap')
    const heapSecond = peak(second, 'heap')
    const t0 = warm[0]?.at ?? 0
    const heapSlope = slope(warm.map((m) => ({ x: (m.at - t0) / 60_000, y: m.heap / MiB })))
    figure(task, 'samples', 'memory samples (every 2 s, after a 10-s warm-up)', warm.length)
    figure(task, 'rssFirst', 'resident set, peak of the first half', rssFirst / MiB, 'MiB')
    figure(task, 'rssSecond', 'resident set, peak of the second half', rssSecond / MiB, 'MiB')
    figure(task, 'heapFirst', 'V8 heap used, peak of the first half', heapFirst / MiB, 'MiB')
    figure(task, 'heapSecond', 'V8 heap used, peak of the second half', heapSecond / MiB, 'MiB')
    figure(task, 'heapSlope', 'V8 heap used, trend (least squares)', heapSlope, 'MiB/min')
    figure(task, 'rssAfterDrain', 'resident set once the backlog drained', rssAfterDrain / MiB, 'MiB')
    figure(task, 'bound', 'bound: second-half peak ≤ 1.25 × first-half peak + 32 MiB', 'rss and heap')
    expect(warm.length).toBeGreaterThanOrEqual(10)
    expect(rssSecond).toBeLessThanOrEqual(rssFirst * 1.25 + 32 * MiB)
    expect(heapSecond).toBeLessThanOrEqual(heapFirst * 1.25 + 32 * MiB)
  })

  it('answers as fast as before once the load has ended and its backlog is delivered', ({ task }) => {
    const p50Before = percentile(before.latencies, 50)
    const p50AfterLoad = percentile(afterLoad.latencies, 50)
    const p50AfterDrain = percentile(afterDrain.latencies, 50)
    figure(task, 'p50Before', `latency at ${LIGHT_RATE} batches/s before the minute, median`, p50Before, 'ms')
    figure(
      task,
      'p50AfterLoad',
      'the same 3 s after the minute, the backlog still draining',
      p50AfterLoad,
      'ms',
    )
    figure(task, 'p50AfterDrain', 'the same once the backlog is delivered', p50AfterDrain, 'ms')
    figure(task, 'meanAfterDrain', 'the same, mean', mean(afterDrain.latencies), 'ms')
    figure(task, 'bound', 'bound', 'once drained: ≤ 2 × before + 5 ms')
    expect(afterLoad.failed + afterDrain.failed).toBe(0)
    expect(p50AfterDrain).toBeLessThanOrEqual(2 * p50Before + 5)
  })

  it('drains the backlog and delivers every accepted item exactly once', ({ task }) => {
    const snapshot = sandbox.inspect()
    figure(task, 'items', 'items accepted over the whole run', sent.length)
    figure(task, 'drainSeconds', 'time to deliver the backlog after the minute', drainMs / 1000, 's')
    figure(task, 'drainRate', 'items delivered per second while draining', drain.rate, 'items/s')
    figure(task, 'drainProxyCpu', 'proxy CPU while draining', drain.proxyCpu, '% of a core')
    figure(
      task,
      'drainSandboxCpu',
      'sandbox (this process) CPU while draining',
      drain.sandboxCpu,
      '% of a core',
    )
    for (const kind of ['contact', 'purchase', 'workflow'] as const) {
      const count = countDeliveries(snapshot, sent, kind)
      figure(task, `${kind}Lost`, `${kind} items not delivered`, count.lost.length)
      figure(task, `${kind}Duplicated`, `${kind} items delivered twice`, count.duplicated.length)
      expect({ kind, lost: count.lost.length, duplicated: count.duplicated.length }).toEqual({
        kind,
        lost: 0,
        duplicated: 0,
      })
    }
    expect(repeatedTransactionKeys(snapshot)).toEqual([])
  })
})
