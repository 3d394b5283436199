// Shutdown: SIGTERM is what a deploy or an orchestrator sends. The proxy, a real child process, must
// stop within its grace period while items arrive and are delivered, exit 0, and leave nothing lost or
// doubled for the next process on the same SQLite file — also when the process that read its logs
// (a pipe to a log shipper) has gone away.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnProxy, type ChildProxy } from './lib/child-proxy'
import { countDeliveries, repeatedTransactionKeys } from './lib/deliveries'
import { figure } from './lib/figures'
import {
  ADMIN_TOKEN,
  freePort,
  queueDepth,
  QUICK_DELIVERY,
  relayConfig,
  targetOf,
  waitFor,
} from './lib/relay'
import { createRng } from './lib/rng'
import { startSender } from './lib/sender'
import { sleep } from './lib/stats'

let sandbox: RunningSandbox
let dir: string
let config: Record<string, unknown>
let env: Record<string, string>
const started: ChildProxy[] = []

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-shutdown-'))
  sandbox = await startSandbox({ randomSeed: 5 })
  config = relayConfig(targetOf(sandbox), {
    port: await freePort(),
    storagePath: join(dir, 'relay.db'),
    delivery: QUICK_DELIVERY,
  })
  env = {
    QUALTRICS_API_TOKEN: sandbox.token,
    QUALTRICS_BASE_URL: sandbox.url,
    RELAY_ADMIN_TOKEN: ADMIN_TOKEN,
  }
})

afterAll(async () => {
  for (const p of started) {
    p.kill('SIGKILL')
    await p.exited
  }
  await sandbox?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

function start(pipeStdout = false): ChildProxy {
  const proxy = spawnProxy({ dir, config, env, pipeStdout })
  started.push(proxy)
  return proxy
}

/** Resolves with the exit, or with `undefined` when the process is still running after `ms`. */
function exitWithin(proxy: ChildProxy, ms: number) {
  return Promise.race([proxy.exited, sleep(ms).then(() => undefined)])
}

describe('shutdown', () => {
  it('stops on SIGTERM in the middle of a load with exit 0, and the next process delivers the rest once', async ({
    task,
  }) => {
    const first = start()
    await first.ready()
    const sender = startSender({
      url: () => first.url,
      target: targetOf(sandbox),
      rng: createRng(3),
      workers: 3,
      batchSize: [1, 8],
      pauseMs: 20,
      mix: { contact: 3, purchase: 5, workflow: 2 },
      users: 20,
      prefix: 'term',
    })
    await sleep(1_500)
    const signalled = Date.now()
    first.kill('SIGTERM')
    const exit = await exitWithin(first, 15_000)
    const stopMs = Date.now() - signalled
    await sleep(300) // still sending while nothing listens: those requests fail and are sent again
    sender.stopGenerating()

    const second = start()
    await second.ready()
    await sender.settle(30_000)
    await waitFor(
      'the queue to drain',
      async () => ((await queueDepth(second.url)) === 0 ? true : undefined),
      30_000,
    )
    second.kill('SIGTERM')
    const secondExit = await exitWithin(second, 15_000)

    const answered = sender.items.filter((t) => t.status !== undefined)
    figure(task, 'stopMs', 'SIGTERM to exit, while taking and delivering items', stopMs, 'ms')
    figure(task, 'items', 'items answered', answered.length)
    figure(
      task,
      'failedRequests',
      'requests that failed during the stop (sent again)',
      sender.stats.failedRequests,
    )
    expect(exit).toEqual({ code: 0, signal: null })
    expect(secondExit).toEqual({ code: 0, signal: null })
    expect(sender.stats.rejected).toEqual([])
    const snapshot = sandbox.inspect()
    for (const kind of ['contact', 'purchase', 'workflow'] as const) {
      const count = countDeliveries(snapshot, answered, kind)
      expect({ kind, lost: count.lost, duplicated: count.duplicated }).toEqual({
        kind,
        lost: [],
        duplicated: [],
      })
    }
    expect(repeatedTransactionKeys(snapshot)).toEqual([])
  })

  // Found by this suite (df49989): pino's exit flush retried the EPIPE write forever, so the process
  // hung after process.exit(0) with its event loop blocked; only SIGKILL ended it.
  it('stops on SIGTERM when the process reading its logs has gone away', async ({ task }) => {
    const proxy = start(true)
    proxy.child.stdout?.resume()
    await proxy.ready()
    proxy.child.stdout?.destroy()
    await sleep(200)
    proxy.kill('SIGTERM')
    const exit = await exitWithin(proxy, 5_000)
    figure(
      task,
      'exit',
      'state 5 s after SIGTERM',
      exit === undefined ? 'still running' : `exited ${exit.code}`,
    )
    expect(exit).toEqual({ code: 0, signal: null })
  })
})
