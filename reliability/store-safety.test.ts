// The store under the proxy: several sources sharing messageIds, the choice between fsync per commit
// and speed, two proxies started on one SQLite file, a damaged write-ahead log found at start, messageIds
// that UTF-8 cannot carry, and events the browser's mapping interpreter must refuse as the proxy's does.
// Proxies run as real child processes (or in this process where a check reads their internals), against
// the sandbox as Qualtrics, on SQLite files in a temporary folder.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { applyMapping, MappingError, runMapping, type PublicSettings } from '@qualtrics-relay/core'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { childLogs, spawnProxy } from './lib/child-proxy'
import { figure, note } from './lib/figures'
import { startRelay } from './lib/in-process'
import {
  ADMIN_TOKEN,
  contactItem,
  freePort,
  mappingsFor,
  postBatch,
  purchaseItem,
  QUICK_DELIVERY,
  relayConfig,
  request,
  resultsOf,
  SITE,
  targetOf,
  waitFor,
  WRITE_KEY,
  type Target,
} from './lib/relay'

let sandbox: RunningSandbox
let target: Target
let dir: string

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-store-'))
  sandbox = await startSandbox({ randomSeed: 13 })
  target = targetOf(sandbox)
})
afterAll(async () => {
  await sandbox.close()
  rmSync(dir, { recursive: true, force: true })
})

/** One write key without the workflow mapping: its URL would have to be on the (unreachable) base URL. */
const contactKeys = () => ({
  [WRITE_KEY]: {
    name: 'Reliability',
    origins: [SITE],
    mappings: mappingsFor(target).filter((m) => m.action !== 'triggerXflowWorkflow'),
  },
})

const env = () => ({
  QUALTRICS_API_TOKEN: sandbox.token,
  QUALTRICS_BASE_URL: sandbox.url,
  RELAY_ADMIN_TOKEN: ADMIN_TOKEN,
})

describe('the store under the proxy', () => {
  it('keeps two write keys’ items with one messageId apart: each stored, shown and delivered as its own transaction', async ({
    task,
  }) => {
    const relay = await startRelay({
      config: relayConfig(target, {
        storagePath: join(dir, 'sources.db'),
        writeKeys: {
          wk_shop: { name: 'Shop', origins: [SITE], mappings: mappingsFor(target) },
          wk_other: { name: 'Other shop', origins: [SITE], mappings: mappingsFor(target) },
        },
      }),
      token: sandbox.token,
      baseUrl: sandbox.url,
    })
    try {
      const orders = Array.from({ length: 20 }, (_, i) => `order-${1001 + i}`)
      const statuses: string[] = []
      for (const writeKey of ['wk_shop', 'wk_other']) {
        const answer = await postBatch(
          relay.url,
          orders.map((id) => purchaseItem(target, id, `${writeKey}-${id}`)),
          { writeKey },
        )
        statuses.push(...resultsOf(answer).map((r) => r.status))
      }
      await waitFor(
        'both sources’ purchases to be delivered',
        async () => {
          for (const writeKey of ['wk_shop', 'wk_other']) {
            for (const id of orders) {
              const answer = await request(`${relay.url}/v1/messages/${id}?writeKey=${writeKey}`)
              const items = (answer.json as { items?: { state: string }[] } | undefined)?.items ?? []
              if (items.length !== 1 || items[0]?.state !== 'delivered') return undefined
            }
          }
          return true
        },
        30_000,
      )
      const snapshot = sandbox.inspect()
      const written = snapshot.transactions.filter((t) => orders.includes(String(t.data.messageId)))
      const keys = new Set(written.map((t) => t.key))
      figure(task, 'sent', 'purchases sent (20 order ids × 2 write keys)', statuses.length)
      figure(task, 'accepted', 'answered accepted', statuses.filter((s) => s === 'accepted').length)
      figure(task, 'transactions', 'transactions in the sandbox', written.length)
      figure(task, 'keys', 'distinct transaction keys', keys.size)
      expect(statuses.every((s) => s === 'accepted')).toBe(true)
      expect(written).toHaveLength(40)
      expect(keys.size).toBe(40)
      note(
        task,
        'Item ids (= transaction keys) hash the source (the write key’s name), the messageId and the mapping. Before, the second write key’s order-1001 was answered "duplicate", stored nowhere and never delivered.',
      )
    } finally {
      await relay.close()
    }
  })

  it('commits each 202 with an fsync by default (synchronous FULL), and says what NORMAL would save', async ({
    task,
  }) => {
    const rates: Record<string, number> = {}
    for (const synchronous of ['normal', 'full', 'normal', 'full'] as const) {
      const config = relayConfig(target, {
        storagePath: join(dir, `sync-${synchronous}-${Date.now()}.db`),
        writeKeys: contactKeys(),
      })
      // FULL is not written: it is what the proxy does when the config says nothing.
      if (synchronous === 'normal') config.storage = { ...(config.storage as object), synchronous }
      // Nowhere to deliver to: only ingest is measured.
      const relay = await startRelay({ config, token: sandbox.token, baseUrl: 'http://127.0.0.1:9' })
      try {
        expect(relay.proxy.config.storage).toMatchObject({ kind: 'sqlite', synchronous })
        const started = performance.now()
        for (let b = 0; b < 150; b++) {
          const answer = await postBatch(
            relay.url,
            Array.from({ length: 5 }, (_, i) => purchaseItem(target, `sync-${synchronous}-${b}-${i}`, 'u')),
          )
          expect(answer.status).toBe(202)
        }
        rates[synchronous] = (750 / (performance.now() - started)) * 1000
      } finally {
        await relay.close()
      }
    }
    figure(task, 'full', 'items/s, one batch of 5 at a time, FULL (default)', rates.full ?? 0)
    figure(task, 'normal', 'items/s, one batch of 5 at a time, NORMAL', rates.normal ?? 0)
    figure(task, 'ratio', 'FULL ÷ NORMAL', (rates.full ?? 0) / (rates.normal ?? 1))
    note(
      task,
      'FULL (the default) fsyncs the WAL before each 202, so an answered item survives a power loss or host crash; NORMAL survives a process crash only. Figures from the last round of each; pnpm bench store measures it properly.',
    )
  })

  it('refuses a second proxy on a SQLite file in use, with a clear message; the first keeps serving; after a SIGKILL a new one starts', async ({
    task,
  }) => {
    const storagePath = join(dir, 'one-process.db')
    const procDir = mkdtempSync(join(dir, 'one-'))
    const first = spawnProxy({
      dir: procDir,
      config: relayConfig(target, { storagePath, port: await freePort() }),
      env: env(),
    })
    try {
      await first.ready()
      const secondDir = mkdtempSync(join(dir, 'two-'))
      const second = spawnProxy({
        dir: secondDir,
        config: relayConfig(target, { storagePath, port: await freePort() }),
        env: env(),
      })
      const exit = await second.exited
      const logs = childLogs(secondDir)
      figure(task, 'exitCode', 'exit code of the second proxy', exit.code ?? -1)
      expect(exit.code).not.toBe(0)
      expect(logs).toMatch(/is in use by another process .*: one process per database file/)
      const stillServing = await postBatch(first.url, [contactItem(target, 'one-process-1', 'one-1')])
      expect(stillServing.status).toBe(202)

      first.kill('SIGKILL')
      await first.exited
      const third = spawnProxy({
        dir: mkdtempSync(join(dir, 'three-')),
        config: relayConfig(target, { storagePath, port: await freePort() }),
        env: env(),
      })
      try {
        figure(task, 'restartMs', 'a new proxy ready after the SIGKILL', await third.ready(), 'ms')
      } finally {
        third.kill('SIGKILL')
        await third.exited
      }
      note(
        task,
        'The store holds an exclusive OS lock (SQLite locking_mode EXCLUSIVE, fcntl) on its file for the life of the process; the kernel releases it when the process dies. Before, both proxies started and wrote 152–172 of ~4,500 transactions twice once one stalled past its lease.',
      )
    } finally {
      first.kill('SIGKILL')
      await first.exited
    }
  })

  it('refuses to start on a write-ahead log with a flipped byte, says how many commits SQLite would drop, keeps a copy, and goes on when started again', async ({
    task,
  }) => {
    const storagePath = join(dir, 'flipped.db')
    const config = () =>
      relayConfig(target, {
        storagePath,
        writeKeys: contactKeys(),
        delivery: { ...QUICK_DELIVERY, retryBaseMs: 600_000, retryMaxMs: 600_000 },
      })
    const port = await freePort()
    const start = () =>
      spawnProxy({
        dir: procDir,
        config: { ...config(), server: { host: '127.0.0.1', port } },
        // Qualtrics unreachable: the 200 items stay queued.
        env: { ...env(), QUALTRICS_BASE_URL: 'http://127.0.0.1:9' },
      })
    const procDir = mkdtempSync(join(dir, 'flip-'))
    const first = start()
    await first.ready()
    for (let i = 0; i < 200; i++) {
      const answer = await postBatch(first.url, [contactItem(target, `flip-${i}`, `flip-${i}`)])
      expect(answer.status).toBe(202)
    }
    first.kill('SIGKILL')
    await first.exited

    const wal = readFileSync(`${storagePath}-wal`)
    const frameBytes = 24 + wal.readUInt32BE(8)
    const frames = Math.floor((wal.length - 32) / frameBytes)
    const at = 32 + Math.floor(frames / 3) * frameBytes + 24 + 64
    wal[at] = wal[at]! ^ 0x01
    writeFileSync(`${storagePath}-wal`, wal)

    const refused = start()
    const exit = await refused.exited
    const logs = childLogs(procDir)
    const found = /would silently drop (\d+) frames? holding (\d+) committed transactions?/.exec(logs)
    expect(exit.code).not.toBe(0)
    expect(found).not.toBeNull()
    const copies = readdirSync(dir).filter((f) => f.startsWith('flipped.db-wal.damaged-'))
    expect(copies).toHaveLength(1)

    const again = start()
    try {
      await again.ready()
      const depth = await waitFor(
        'the queue depth',
        async () => {
          const metrics = await request(`${again.url}/metrics`)
          const m = /relay_queue_depth\{state="pending"\} (\d+)/.exec(metrics.text)
          return m ? Number(m[1]) : undefined
        },
        10_000,
      )
      figure(task, 'accepted', 'items answered 202 before the SIGKILL', 200)
      figure(task, 'frames', 'WAL frames', frames)
      figure(task, 'lostFrames', 'frames the start reported SQLite would drop', Number(found?.[1]))
      figure(task, 'lostCommits', 'commits among them (reported)', Number(found?.[2]))
      figure(task, 'readable', 'items queued after starting again', depth)
      expect(depth).toBeLessThan(200)
    } finally {
      again.kill('SIGKILL')
      await again.exited
    }
    note(
      task,
      'SQLite’s recovery stops at the first frame whose checksum fails and ignores every later one, so one flipped byte dropped the items committed after it without a word (140 of 200 in the attack). The start now reads the WAL first, refuses (exit 1) with the count, and keeps a copy of the log; the next start goes on with the readable part. A file failing PRAGMA quick_check is refused too. A damaged last transaction cannot be told from one a crash interrupted, and is not reported.',
    )
  })

  it('refuses a messageId holding a lone surrogate, which would have collided with its U+FFFD spelling', async ({
    task,
  }) => {
    const relay = await startRelay({
      config: relayConfig(target, { storagePath: join(dir, 'surrogate.db') }),
      token: sandbox.token,
      baseUrl: sandbox.url,
    })
    try {
      const lone = await postBatch(relay.url, [contactItem(target, 'order-\ud800', 'lone')])
      const replacement = await postBatch(relay.url, [contactItem(target, 'order-\ufffd', 'replacement')])
      figure(task, 'lone', 'status for "order-\\ud800"', lone.status)
      figure(task, 'replacement', 'result for "order-\\ufffd"', resultsOf(replacement)[0]?.status ?? '')
      expect(lone.status).toBe(400)
      expect(lone.text).toContain('must be well-formed Unicode: it holds a lone surrogate')
      expect(resultsOf(replacement)[0]?.status).toBe('accepted')
      note(
        task,
        'UTF-8 (the hash input, SQLite text, Qualtrics) turns a lone surrogate into U+FFFD, so the two messageIds were one item: the second was answered "duplicate" and dropped. Ill-formed messageIds, write-key names and node plugin sources are now refused at the boundary.',
      )
    } finally {
      await relay.close()
    }
  })

  it('the browser’s mapping programs refuse events that are no object exactly as the proxy’s evaluator does', async ({
    task,
  }) => {
    const relay = await startRelay({
      config: relayConfig(target),
      token: sandbox.token,
      baseUrl: sandbox.url,
    })
    try {
      const settings = (await request(`${relay.url}/v1/settings?writeKey=${WRITE_KEY}`))
        .json as PublicSettings
      const events: unknown[] = [[], [{ userId: 'u1' }], 'identify', '', null, 42, true, new Date(0)]
      let compared = 0
      let disagreements = 0
      for (const spec of settings.mappings) {
        for (const input of events) {
          let browser: string
          let proxy: string
          try {
            browser = JSON.stringify(runMapping(spec.program, input as object))
          } catch (error) {
            browser = `refused: ${(error as Error).message}`
          }
          try {
            proxy = JSON.stringify(applyMapping(spec.fields, input as object))
          } catch (error) {
            expect(error).toBeInstanceOf(MappingError)
            proxy = `refused: ${(error as Error).message}`
          }
          compared++
          if (browser !== proxy || !browser.startsWith('refused: The event must be an object'))
            disagreements++
        }
      }
      figure(task, 'compared', 'mapping × non-object event pairs compared', compared)
      figure(task, 'disagreements', 'pairs where the browser and the proxy differ', disagreements)
      expect(disagreements).toBe(0)
      note(
        task,
        'runMapping (what the browser runs) returned a payload for an array, a string or null; applyMapping and Segment’s transform refuse them. Both now refuse with one message; the differential tests in packages/core/test/mapping cover such events too.',
      )
    } finally {
      await relay.close()
    }
  })
})
