// Slow clients, a failing machine, look-alike users: the proxy runs as a real child process with an
// open-file limit of 1,024 (`ulimit -n`), as on many hosts. One address opens 2,000 half-sent requests
// (a slowloris) while another trickles a body at 300 B/s; /healthz and a normal client must stay served,
// and both must be cut by the server's header and request deadlines, long before Node's 300 s. A fresh
// proxy that runs out of file descriptors while reading a valid batch must answer 503 (retryable), never
// 4xx (final for a plugin). Readiness must stay 200 through a Qualtrics outage and turn 503 when the
// database files are deleted under the proxy, which must then refuse batches rather than answer 202 into
// a deleted file. Signed users whose ids differ only by case or surrounding spaces (ALICE-7, alice-7)
// must never reach each other's contact, though the sandbox, like Qualtrics, matches extRef that way.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { signIdentity } from '@qualtrics-relay/proxy'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnProxy, type ChildProxy } from './lib/child-proxy'
import { figure, note } from './lib/figures'
import { startRelay, type InProcessRelay } from './lib/in-process'
import {
  contactItem,
  freePort,
  mappingsFor,
  postBatch,
  purchaseItem,
  readMetrics,
  relayConfig,
  request,
  SITE,
  targetOf,
  WRITE_KEY,
  waitFor,
  type Target,
} from './lib/relay'
import { sleep } from './lib/stats'

const ATTACKER = '127.0.0.2'
const TRICKLER = '127.0.0.3'

let sandbox: RunningSandbox
let target: Target
let dir: string
const children: ChildProxy[] = []

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-resources-'))
  sandbox = await startSandbox({ randomSeed: 13 })
  target = targetOf(sandbox)
})

afterAll(async () => {
  for (const child of children) {
    child.kill('SIGKILL')
    await child.exited
  }
  await sandbox.close()
  rmSync(dir, { recursive: true, force: true })
})

async function startChild(name: string, openFiles: number, server: Record<string, unknown> = {}) {
  const port = await freePort()
  const config = relayConfig(target, { port, storagePath: join(dir, `${name}.db`) })
  const child = spawnProxy({
    dir,
    config: { ...config, server: { ...(config.server as object), ...server } },
    env: { QUALTRICS_API_TOKEN: sandbox.token, QUALTRICS_BASE_URL: sandbox.url },
    openFiles,
  })
  children.push(child)
  await child.ready()
  return child
}

/** A socket from `localAddress` that sends the start of a request and never finishes its headers. */
function halfSent(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress })
    socket.on('error', () => undefined)
    socket.resume() // read what the proxy answers (a 408), so its close is seen
    socket.once('connect', () => {
      socket.write('POST /v1/batch HTTP/1.1\r\nHost: relay\r\nX-Slow: ')
      resolve(socket)
    })
    socket.once('close', () => resolve(socket))
  })
}

const isOpen = (socket: Socket) => !socket.destroyed && !socket.closed && socket.readyState === 'open'

/** POST /v1/batch on a new connection (fetch would reuse a pooled one, which needs no new descriptor). */
function postFresh(port: number, body: unknown): Promise<{ status: number; code?: string }> {
  return new Promise((resolve) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/batch',
        method: 'POST',
        agent: false,
        timeout: 5_000,
        headers: { 'Content-Type': 'application/json', Origin: SITE },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk))
        res.once('end', () => {
          let code: string | undefined
          try {
            code = (JSON.parse(text) as { error?: { code?: string } }).error?.code
          } catch {
            code = undefined
          }
          resolve({ status: res.statusCode ?? 0, ...(code === undefined ? {} : { code }) })
        })
      },
    )
    req.once('timeout', () => req.destroy())
    req.once('error', () => resolve({ status: 0, code: 'network error' }))
    req.end(JSON.stringify(body))
  })
}

describe('slow clients', () => {
  it('a slowloris of 2,000 half-sent requests at 1,024 descriptors leaves /healthz and a normal client served', async ({
    task,
  }) => {
    const proxy = await startChild('slowloris', 1_024)
    const port = Number(new URL(proxy.url).port)
    const started = Date.now()
    const sockets = await Promise.all(Array.from({ length: 2_000 }, () => halfSent(port, ATTACKER)))
    await sleep(200)
    const heldAtOnce = sockets.filter(isOpen).length

    // A body trickled at 300 B/s from another address, as the 300-second hold of the issue did.
    const trickleStart = Date.now()
    const trickle = connect({ host: '127.0.0.1', port, localAddress: TRICKLER })
    trickle.on('error', () => undefined)
    let trickleAnswer = ''
    trickle.on('data', (chunk: Buffer) => (trickleAnswer += chunk.toString('latin1')))
    const trickleClosed = new Promise<number>((resolve) => trickle.once('close', () => resolve(Date.now())))
    trickle.write(
      'POST /v1/batch HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n',
    )
    const dripper = setInterval(() => trickle.writable && trickle.write('x'.repeat(30)), 100)

    const health = await request(`${proxy.url}/healthz`, {}, 5_000)
    const batchStarted = Date.now()
    const batch = await postBatch(proxy.url, [contactItem(target, 'slow-normal-1', 'slow-normal-1')], {
      timeoutMs: 5_000,
    })
    const batchMs = Date.now() - batchStarted
    expect(health.status).toBe(200)
    expect(batch.status).toBe(202)

    // The proxy's header deadline (10 s, checked every second) ends the rest of the slowloris.
    await waitFor(
      'every half-sent request closed',
      () => (sockets.some(isOpen) ? undefined : true),
      30_000,
      100,
    )
    const slowlorisClosedAfter = Date.now() - started
    // The request deadline (30 s) ends the trickled body.
    const trickleEnd = await Promise.race([trickleClosed, sleep(60_000).then(() => -1)])
    clearInterval(dripper)
    trickle.destroy()
    expect(trickleEnd).toBeGreaterThan(0)
    // 408: a plugin sends it again (a slow network is no reason to drop its items).
    expect(trickleAnswer).toMatch(/^HTTP\/1\.1 408 /)
    const metrics = await readMetrics(proxy.url)

    figure(task, 'openFiles', 'open-file limit of the proxy (ulimit -n)', 1_024)
    figure(task, 'halfSent', 'half-sent requests from one address', sockets.length)
    figure(task, 'held', 'of which the proxy held (server.maxConnectionsPerAddress)', heldAtOnce)
    figure(
      task,
      'refused',
      'closed at once (relay_connections_refused_total)',
      metrics.get('relay_connections_refused_total') ?? 0,
    )
    figure(task, 'healthz', '/healthz from another address during the attack', health.status)
    figure(task, 'batch', 'a normal batch from another address during the attack', batch.status)
    figure(task, 'batchMs', 'its answer time', batchMs, 'ms')
    figure(task, 'slowlorisClosed', 'every half-sent request closed after', slowlorisClosedAfter / 1000, 's')
    figure(task, 'trickleCut', 'body trickled at 300 B/s cut after', (trickleEnd - trickleStart) / 1000, 's')
    figure(
      task,
      'trickleStatus',
      'answer to the trickled request',
      trickleAnswer.split('\r\n')[0] ?? '(none)',
    )
    note(
      task,
      'Defaults: server.headersTimeoutMs 10,000, server.requestTimeoutMs 30,000, server.maxConnectionsPerAddress 64. The cap is per address: many addresses together can still fill the descriptors until the deadlines free them, and behind a reverse proxy every client has the reverse proxy’s address (raise or disable the cap there and let the reverse proxy limit clients).',
    )
  })
})

describe('a failing machine', () => {
  it('answers a valid batch 503, never 4xx, when a fresh proxy runs out of file descriptors', async ({
    task,
  }) => {
    // A small limit and long deadlines: the half-sent requests fill the table and stay (Linux: the
    // proxy's descriptors are counted in /proc).
    const LIMIT = 160
    const proxy = await startChild('emfile', LIMIT, { headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 })
    const port = Number(new URL(proxy.url).port)
    const held: Socket[] = []
    let address = 10
    // Descriptors numbered below the limit (one inherited above it does not count against it).
    const openFds = () => readdirSync(`/proc/${proxy.pid}/fd`).filter((fd) => Number(fd) < LIMIT).length
    // Half-sent requests (at most 64 per address: the per-address cap) until one descriptor is left:
    // enough to take the batch's connection, not to load what reading its body needs.
    for (let round = 0; round < 20 && openFds() !== LIMIT - 1; round++) {
      const missing = LIMIT - 1 - openFds()
      if (missing < 0)
        held
          .filter(isOpen)
          .slice(0, -missing)
          .forEach((socket) => socket.destroy())
      for (let n = missing; n > 0; n -= 32) {
        const from = `127.0.0.${address++}`
        held.push(...(await Promise.all(Array.from({ length: Math.min(n, 32) }, () => halfSent(port, from)))))
      }
      await sleep(300)
    }
    const heldWhenFull = held.filter(isOpen).length
    expect(openFds()).toBe(LIMIT - 1)
    const answer = await postFresh(port, {
      writeKey: WRITE_KEY,
      items: [contactItem(target, 'emfile-1', 'emfile-1')],
    })
    for (const socket of held) socket.destroy()
    await sleep(300)
    const after = await postBatch(proxy.url, [contactItem(target, 'emfile-2', 'emfile-2')], {
      timeoutMs: 5_000,
    })

    figure(task, 'openFiles', 'open-file limit of the proxy (ulimit -n)', LIMIT)
    figure(task, 'held', 'half-sent requests holding descriptors', heldWhenFull)
    figure(
      task,
      'answer',
      'answer to a valid batch with one descriptor left',
      `${answer.status} ${answer.code ?? ''}`.trim(),
    )
    figure(task, 'after', 'answer once the descriptors are free again', after.status)
    expect(answer.status).toBe(503)
    expect(answer.code).toBe('RESOURCE_EXHAUSTED')
    expect(after.status).toBe(202)
  })

  describe('in process', () => {
    let relay: InProcessRelay
    let path: string
    const SECRET = 'reliability-identity-secret-0123456789'
    beforeAll(async () => {
      path = join(dir, 'in-process.db')
      relay = await startRelay({
        token: sandbox.token,
        baseUrl: sandbox.url,
        env: { RELAY_IDENTITY_SECRET: SECRET },
        config: {
          ...relayConfig(target, { storagePath: path }),
          readiness: { cacheMs: 0 },
          writeKeys: {
            wk_reliability: { name: 'Reliability', origins: [SITE], mappings: mappingsFor(target) },
            wk_signed: {
              name: 'Signed',
              origins: [SITE],
              mappings: mappingsFor(target),
              identity: { secretEnv: 'RELAY_IDENTITY_SECRET' },
            },
          },
        },
      })
    })
    afterAll(() => relay.close())

    it('never lets signed "ALICE-7" or " alice-7 " reach the contact of signed "alice-7"', async ({
      task,
    }) => {
      const as = (userId: string) => ({ userId, signature: signIdentity(SECRET, userId) })
      const send = (items: unknown[]) =>
        postBatch(relay.url, items as never, { writeKey: 'wk_signed' }).then((a) => a.status)
      const owner = { ...contactItem(target, 'alice-own', 'alice-7'), identity: as('alice-7') }
      expect(await send([owner])).toBe(202)
      await waitFor(
        'her contact',
        () => sandbox.inspect().contacts.find((c) => c.extRef === 'alice-7'),
        10_000,
      )
      const before = sandbox.inspect().contacts.find((c) => c.extRef === 'alice-7')!
      const answers: number[] = []
      for (const spelling of ['ALICE-7', 'Alice-7', ' alice-7', 'alice-7 ', '\talice-7']) {
        const profile = contactItem(target, `take-${answers.length}`, spelling)
        const purchase = purchaseItem(target, `buy-${answers.length}`, spelling)
        answers.push(
          await send([
            { ...profile, identity: as(spelling) },
            { ...purchase, identity: as(spelling) },
          ]),
        )
      }
      const hers = { ...purchaseItem(target, 'alice-buys', 'alice-7'), identity: as('alice-7') }
      expect(await send([hers])).toBe(202)
      await waitFor(
        'her purchase',
        () => sandbox.inspect().transactions.find((t) => t.data.messageId === 'alice-buys'),
        10_000,
      )
      const state = sandbox.inspect()
      const folded = state.contacts.filter((c) => c.extRef?.trim().toLowerCase() === 'alice-7')
      figure(task, 'spellings', 'other spellings of alice-7 signed and sent', answers.length)
      figure(task, 'refused', 'refused (403 IDENTITY_INVALID)', answers.filter((s) => s === 403).length)
      figure(task, 'contacts', 'contacts whose extRef is alice-7 ignoring case and spaces', folded.length)
      figure(
        task,
        'changed',
        'her contact changed by the others',
        JSON.stringify(state.contacts.find((c) => c.id === before.id)) !== JSON.stringify(before),
      )
      expect(answers.every((s) => s === 403)).toBe(true)
      expect(folded).toHaveLength(1)
      expect(state.contacts.find((c) => c.id === before.id)).toEqual(before)
      expect(
        state.transactions.filter((t) => t.contactId === before.id).map((t) => t.data.messageId),
      ).toEqual(['alice-buys'])
      note(
        task,
        'Signed userIds must be lower case without surrounding spaces (and stay the same through upper and back to lower case): sign the lower-cased id. Contacts created before this rule, or by write keys without signed identities, with other spellings are still matched by Qualtrics ignoring case.',
      )
    })

    it('stays ready through a Qualtrics outage: readiness is about accepting durably', async ({ task }) => {
      sandbox.setFaults([{ kind: 'http-error', status: 503 }])
      try {
        const ready = await request(`${relay.url}/readyz`)
        const batch = await postBatch(relay.url, [contactItem(target, 'outage-1', 'outage-1')])
        const metrics = await readMetrics(relay.url)
        figure(task, 'readyz', '/readyz while every Qualtrics call answers 503', ready.status)
        figure(
          task,
          'qualtrics',
          'its qualtrics.ok',
          String((ready.json as { qualtrics?: { ok?: boolean } }).qualtrics?.ok),
        )
        figure(task, 'up', 'relay_qualtrics_up', metrics.get('relay_qualtrics_up') ?? -1)
        figure(task, 'batch', 'a batch meanwhile', batch.status)
        expect(ready.status).toBe(200)
        expect(ready.json).toMatchObject({ status: 'ready', qualtrics: { ok: false } })
        expect(batch.status).toBe(202)
      } finally {
        sandbox.setFaults([])
      }
    })

    it('turns not ready and refuses batches when its database files are deleted under it', async ({
      task,
    }) => {
      const accepted = await postBatch(relay.url, [contactItem(target, 'files-1', 'files-1')])
      expect(accepted.status).toBe(202)
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true })
      const ready = await request(`${relay.url}/readyz`)
      const answers: number[] = []
      for (let i = 0; i < 20; i++)
        answers.push(
          (await postBatch(relay.url, [contactItem(target, `files-after-${i}`, `files-after-${i}`)])).status,
        )
      figure(task, 'readyz', '/readyz after the files were deleted', ready.status)
      figure(task, 'batches', 'batches sent after', answers.length)
      figure(
        task,
        'accepted',
        'of which answered 202 (would be lost at restart)',
        answers.filter((s) => s === 202).length,
      )
      figure(
        task,
        'refused',
        'answered 503 STORAGE_ERROR (kept by the plugin, retried)',
        answers.filter((s) => s === 503).length,
      )
      expect(ready.status).toBe(503)
      expect(answers.every((s) => s === 503)).toBe(true)
      note(
        task,
        'Items accepted before the files were deleted and not yet delivered are lost with the files; the proxy only stops accepting more, and says so in /readyz and its log.',
      )
    })
  })
})
