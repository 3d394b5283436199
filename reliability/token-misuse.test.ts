// Token misuse: attempts to steer the proxy — and with it the Qualtrics API token — somewhere else, or
// to write where the operator did not allow: workflow URLs on other hosts (IP literals, user-info and
// backslash tricks, look-alike hosts such as qualtrics.com.evil.test, other ports and schemes), a
// "Qualtrics" answering with redirects to another host, an item planted directly in the SQLite store,
// directories and mailing lists outside the allowlist, forged or mismatched write keys, origins not
// allowed, and unsigned or wrongly signed identities. None may succeed. The proxy talks to Qualtrics
// through a recording gateway in front of the sandbox, every outgoing fetch of the process is recorded,
// and an "evil" server on 127.0.0.1 must never receive a single request.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deriveItemId } from '@qualtrics-relay/core/server'
import { createSqliteStore } from '@qualtrics-relay/core/sqlite'
import { signIdentity } from '@qualtrics-relay/proxy'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { figure } from './lib/figures'
import { startEvilServer, startGateway, type Gateway, type RecordingServer } from './lib/gateway'
import { startRelay, type InProcessRelay } from './lib/in-process'
import {
  ADMIN_TOKEN,
  contactItem,
  listDeadLetters,
  mappingsFor,
  postBatch,
  purchaseItem,
  queueDepth,
  relayConfig,
  request,
  resultsOf,
  SITE,
  waitFor,
  WRITE_KEY,
  workflowItem,
  type Answer,
  type BatchItem,
  type Target,
} from './lib/relay'

const SIGNED_KEY = 'wk_signed'
const OTHER_KEY = 'wk_other'
const OTHER_SITE = 'https://other.example'
const SECRET = 'reliability-identity-secret-0123456789'
const OTHER_DIRECTORY = 'POOL_otherDirectory01'

let sandbox: RunningSandbox
let gateway: Gateway
let evil: RecordingServer
let relay: InProcessRelay
let target: Target
let dir: string
/** Every fetch this process made while the suite ran: where to, and whether it carried the API token. */
const outgoing: { origin: string; credential: boolean }[] = []
const answers: Answer[] = []
const realFetch = globalThis.fetch

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-token-'))
  globalThis.fetch = (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
    const headers = new Headers(init?.headers)
    const sent = `${headers.get('x-api-token') ?? ''} ${headers.get('authorization') ?? ''} ${url.href}`
    outgoing.push({ origin: url.origin, credential: sandbox !== undefined && sent.includes(sandbox.token) })
    return realFetch(input, init)
  }
  sandbox = await startSandbox({ randomSeed: 99 })
  gateway = await startGateway(sandbox.url)
  evil = await startEvilServer()
  const workflow = new URL(sandbox.workflowUrl)
  target = {
    directoryId: sandbox.directoryId,
    mailingListId: sandbox.mailingListId,
    workflowUrl: `${gateway.url}${workflow.pathname}${workflow.search}`,
  }
  relay = await startRelay({
    config: relayConfig(target, {
      storagePath: join(dir, 'relay.db'),
      delivery: { retryBaseMs: 50, retryMaxMs: 200, pollIntervalMs: 50, transactionLingerMs: 10 },
      writeKeys: {
        [WRITE_KEY]: { name: 'Reliability', origins: [SITE], mappings: mappingsFor(target) },
        [SIGNED_KEY]: {
          name: 'Signed',
          origins: [SITE],
          mappings: mappingsFor(target),
          identity: { secretEnv: 'RELIABILITY_IDENTITY_SECRET' },
        },
        [OTHER_KEY]: {
          name: 'Other',
          origins: [OTHER_SITE],
          mappings: mappingsFor({
            ...target,
            directoryId: OTHER_DIRECTORY,
            mailingListId: 'CG_otherMailingLis',
          }),
        },
      },
    }),
    token: sandbox.token,
    baseUrl: gateway.url,
    env: { RELIABILITY_IDENTITY_SECRET: SECRET },
  })
})

afterAll(async () => {
  globalThis.fetch = realFetch
  await relay?.close()
  await gateway?.close()
  await evil?.close()
  await sandbox?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

async function send(items: BatchItem[], options: Parameters<typeof postBatch>[2] = {}): Promise<Answer> {
  const answer = await postBatch(relay.url, items, options)
  answers.push(answer)
  return answer
}

/** `POOL_AbC…` → `POOL_aBc…`: the same id to a case-insensitive eye. */
const swapCase = (id: string) =>
  id.replace(/(?<=_)\w+$/, (rest) =>
    [...rest].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join(''),
  )

const codeOf = (answer: Answer) => (answer.json as { error?: { code?: string } } | undefined)?.error?.code

/** Every attempt is refused with the expected status and code, and nothing of it was stored. */
async function expectRefused(
  task: { meta: object },
  cases: readonly {
    name: string
    send: () => Promise<Answer>
    status: number
    code: string
    messageId: string
  }[],
) {
  const outcomes: string[] = []
  for (const c of cases) {
    const answer = await c.send()
    outcomes.push(`${c.name}: ${answer.status} ${codeOf(answer) ?? ''}`)
    expect({ name: c.name, status: answer.status, code: codeOf(answer) }).toEqual({
      name: c.name,
      status: c.status,
      code: c.code,
    })
    expect(await relay.proxy.engine.status(c.messageId)).toEqual([])
  }
  figure(task, 'attempts', 'attempts', cases.length)
  figure(task, 'accepted', 'accepted', 0)
}

describe('token misuse', () => {
  it('refuses every workflow URL that is not exactly an allowed one, without a request to it', async ({
    task,
  }) => {
    const wf = new URL(target.workflowUrl)
    const path = `${wf.pathname}${wf.search}`
    const e = evil.port
    const urls: [string, string][] = [
      ['another host (IP literal)', `http://127.0.0.1:${e}${path}`],
      ['localhost', `http://localhost:${e}${path}`],
      ['IPv6 loopback', `http://[::1]:${e}${path}`],
      ['decimal IP', `http://2130706433:${e}${path}`],
      ['hex IP', `http://0x7f.0.0.1:${e}${path}`],
      ['short IP', `http://127.1:${e}${path}`],
      ['user info: Qualtrics host before @', `https://iad1.qualtrics.com@127.0.0.1:${e}${path}`],
      ['user info: the allowed origin before @', `${gateway.url}@127.0.0.1:${e}${path}`],
      [
        'the allowed URL in the query of another',
        `http://127.0.0.1:${e}/?next=${encodeURIComponent(target.workflowUrl)}`,
      ],
      ['look-alike qualtrics.com.evil.test', `https://qualtrics.com.evil.test${path}`],
      ['look-alike iad1.qualtrics.com.evil.test', `https://iad1.qualtrics.com.evil.test${path}`],
      ['fragment trick', `https://evil.test#@iad1.qualtrics.com${path}`],
      ['backslash trick', `https://iad1.qualtrics.com\\@evil.test${path}`],
      ['percent-encoded dot', `https://iad1.qualtrics.com%2eevil.test${path}`],
      ['Qualtrics host on another port', `https://iad1.qualtrics.com:8443${path}`],
      ['Qualtrics host over http', `http://iad1.qualtrics.com${path}`],
      ['a real-looking Qualtrics URL not in the allowlist', `https://iad1.qualtrics.com${path}`],
      [
        'the allowed origin, another trigger',
        `${gateway.url}/inbound-event/v1/events/json/triggers?urlTokenId=00000000-0000-4000-8000-000000000000`,
      ],
      ['the allowed URL plus a parameter', `${target.workflowUrl}&force_isolation=true`],
      [
        'the allowed origin, an API path',
        `${gateway.url}/API/v3/directories/${sandbox.directoryId}/contacts`,
      ],
      ['the allowed origin, path traversal', `${gateway.url}/inbound-event/../API/v3/whoami${wf.search}`],
      ['javascript: URL', 'javascript:alert(1)'],
      ['file: URL', 'file:///etc/passwd'],
      ['relative URL', path],
      ['empty string', ''],
    ]
    await expectRefused(
      task,
      urls.map(([name, url], i) => {
        const item = workflowItem(target, `ssrf-${i}`)
        item.payload.workflowUrl = url
        return {
          name,
          messageId: item.messageId,
          send: () => send([item]),
          status: 403,
          code: 'FORBIDDEN',
        }
      }),
    )
    expect(evil.requests).toEqual([])
  })

  it('refuses directories and mailing lists outside the allowlist, and never names them to Qualtrics', async ({
    task,
  }) => {
    const contact = (i: number, directoryId: string) => {
      const item = contactItem(target, `dir-${i}`, `dir-${i}`)
      item.payload.directoryId = directoryId
      return item
    }
    const purchase = (i: number, patch: Record<string, unknown>) => {
      const item = purchaseItem(target, `list-${i}`, `list-${i}`)
      Object.assign(item.payload, patch)
      return item
    }
    const forbidden = (name: string, item: BatchItem) => ({
      name,
      messageId: item.messageId,
      send: () => send([item]),
      status: 403,
      code: 'FORBIDDEN',
    })
    await expectRefused(task, [
      forbidden('a directory of another write key', contact(1, OTHER_DIRECTORY)),
      forbidden('an unknown directory', contact(2, 'POOL_zzzzzzzzzzzzzzz')),
      forbidden('a directory id in other case', contact(3, swapCase(sandbox.directoryId))),
      forbidden('a mailing list of another write key', purchase(1, { mailingListId: 'CG_otherMailingLis' })),
      forbidden('an allowed list in a forbidden directory', purchase(2, { directoryId: OTHER_DIRECTORY })),
      {
        name: 'path traversal in the directory id',
        messageId: 'dir-9',
        send: () => send([contact(9, `${sandbox.directoryId}/../../whoami`)]),
        status: 400,
        code: 'PAYLOAD_INVALID',
      },
    ])
    const paths = sandbox.inspect().requests.map((r) => `${r.path}${r.query}`)
    expect(
      paths.filter((p) => p.includes(OTHER_DIRECTORY) || p.includes('zzzzzzzz') || p.includes('whoami')),
    ).toEqual([])
  })

  it('refuses forged, unknown and mismatched write keys', async ({ task }) => {
    const item = () => contactItem(target, 'wk-1', 'wk-1')
    await expectRefused(task, [
      {
        name: 'unknown key',
        messageId: 'wk-1',
        send: () => send([item()], { writeKey: 'wk_forged' }),
        status: 401,
        code: 'UNKNOWN_WRITE_KEY',
      },
      {
        name: 'key in other case',
        messageId: 'wk-1',
        send: () => send([item()], { writeKey: WRITE_KEY.toUpperCase() }),
        status: 401,
        code: 'UNKNOWN_WRITE_KEY',
      },
      {
        name: 'key with a trailing space',
        messageId: 'wk-1',
        send: () => send([item()], { writeKey: `${WRITE_KEY} ` }),
        status: 401,
        code: 'UNKNOWN_WRITE_KEY',
      },
      {
        name: "another site's key with this site's origin",
        messageId: 'wk-1',
        send: () => send([item()], { writeKey: OTHER_KEY }),
        status: 403,
        code: 'ORIGIN_NOT_ALLOWED',
      },
      {
        name: "another site's key and origin with this site's directory",
        messageId: 'wk-1',
        send: () => send([item()], { writeKey: OTHER_KEY, headers: { Origin: OTHER_SITE } }),
        status: 403,
        code: 'FORBIDDEN',
      },
      {
        name: 'query and body naming different keys',
        messageId: 'wk-1',
        send: async () => {
          const answer = await request(`${relay.url}/v1/batch?writeKey=${OTHER_KEY}`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Origin: SITE },
            body: JSON.stringify({ writeKey: WRITE_KEY, items: [item()] }),
          })
          answers.push(answer)
          return answer
        },
        status: 400,
        code: 'BAD_REQUEST',
      },
    ])
  })

  it('refuses browser origins the write key does not list, for JSON, beacons and preflights alike, readably and without settings', async ({
    task,
  }) => {
    const origins = [
      'https://evil.test',
      'null',
      'https://shop.example.evil.test',
      'http://shop.example',
      'https://shop.example:8443',
      OTHER_SITE,
    ]
    const cases = origins.flatMap((origin, i) =>
      (['application/json', 'text/plain;charset=UTF-8'] as const).map((type, j) => {
        const item = contactItem(target, `origin-${i}-${j}`, `origin-${i}-${j}`)
        return {
          name: `${origin} (${type})`,
          messageId: item.messageId,
          send: () => send([item], { headers: { Origin: origin, 'Content-Type': type } }),
          status: 403,
          code: 'ORIGIN_NOT_ALLOWED',
        }
      }),
    )
    await expectRefused(task, cases)
    for (const origin of origins) {
      const preflight = await request(`${relay.url}/v1/batch?writeKey=${WRITE_KEY}`, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' },
      })
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull()
      const settings = await request(`${relay.url}/v1/settings?writeKey=${WRITE_KEY}`, {
        headers: { Origin: origin },
      })
      // The refusal itself is readable by the page (issue 12), and it carries no settings.
      expect(settings.status).toBe(403)
      expect(settings.headers.get('access-control-allow-origin')).toBe(origin)
      const body = settings.json as { error?: { code?: string }; mappings?: unknown }
      expect(body.error?.code).toBe('ORIGIN_NOT_ALLOWED')
      expect(body.mappings).toBeUndefined()
    }
  })

  it('refuses unsigned and wrongly signed identities', async ({ task }) => {
    const signed = (
      id: string,
      extRef: string,
      identity: BatchItem['identity'],
      patch: Record<string, unknown> = {},
    ) => {
      const item = contactItem(target, id, extRef)
      Object.assign(item.payload, patch)
      if (identity !== undefined) item.identity = identity
      return item
    }
    const good = signIdentity(SECRET, 'alice')
    const cases: [string, BatchItem, number, string][] = [
      ['no identity', signed('id-1', 'alice', undefined), 403, 'IDENTITY_INVALID'],
      [
        'signed with another secret',
        signed('id-2', 'alice', {
          userId: 'alice',
          signature: signIdentity('another-secret-0123456789', 'alice'),
        }),
        403,
        'IDENTITY_INVALID',
      ],
      [
        "alice's signature on bob's extRef",
        signed('id-3', 'bob', { userId: 'alice', signature: good }),
        403,
        'IDENTITY_INVALID',
      ],
      [
        "alice's signature claiming to be bob",
        signed('id-4', 'bob', { userId: 'bob', signature: good }),
        403,
        'IDENTITY_INVALID',
      ],
      [
        'userId with a trailing space',
        signed('id-5', 'alice ', { userId: 'alice ', signature: good }),
        403,
        'IDENTITY_INVALID',
      ],
      [
        'a truncated signature',
        signed('id-6', 'alice', { userId: 'alice', signature: good.slice(0, 63) }),
        400,
        'PAYLOAD_INVALID',
      ],
      [
        'a zero signature',
        signed('id-7', 'alice', { userId: 'alice', signature: '0'.repeat(64) }),
        403,
        'IDENTITY_INVALID',
      ],
      [
        'a valid identity on a transaction naming a contactId',
        {
          ...purchaseItem(target, 'id-8', 'alice'),
          identity: { userId: 'alice', signature: good },
          payload: { ...purchaseItem(target, 'id-8', 'alice').payload, contactId: 'CID_someoneElse0001' },
        },
        403,
        'IDENTITY_INVALID',
      ],
    ]
    await expectRefused(
      task,
      cases.map(([name, item, status, code]) => ({
        name,
        messageId: item.messageId,
        send: () => send([item], { writeKey: SIGNED_KEY }),
        status,
        code,
      })),
    )
    expect(sandbox.inspect().contacts.filter((c) => c.extRef === 'alice' || c.extRef === 'bob')).toEqual([])
    // The same key still works with a good signature.
    const ok = await send([signed('id-ok', 'alice', { userId: 'alice', signature: good })], {
      writeKey: SIGNED_KEY,
    })
    expect(resultsOf(ok).map((r) => r.status)).toEqual(['accepted'])
  })

  it('never follows a redirect from "Qualtrics" to another host; the items wait as dead letters and replay once', async ({
    task,
  }) => {
    gateway.redirect({
      status: 307,
      location: `${evil.url}/steal`,
      path: /\/contacts$|\/inbound-event\//,
      count: 4,
    })
    const items = [contactItem(target, 'redirect-1', 'redirect-1'), workflowItem(target, 'redirect-2')]
    expect(resultsOf(await send(items)).map((r) => r.status)).toEqual(['accepted', 'accepted'])
    const dead = await waitFor(
      'both items to be dead-lettered',
      async () => {
        const list = (await listDeadLetters(relay.url)).filter((d) => d.messageId.startsWith('redirect-'))
        return list.length === 2 ? list : undefined
      },
      15_000,
    )
    figure(task, 'redirects', 'redirects answered by the gateway', gateway.redirected)
    figure(task, 'evilRequests', 'requests that reached the other host', evil.requests.length)
    expect(dead.map((d) => d.lastError?.code)).toEqual(['QUALTRICS_BAD_RESPONSE', 'QUALTRICS_BAD_RESPONSE'])
    expect(evil.requests).toEqual([])

    gateway.redirect({ status: 307, location: `${evil.url}/steal`, path: /$^/, count: 0 })
    const replay = await request(`${relay.url}/admin/dead-letters/replay`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ ids: dead.map((d) => d.id) }),
    })
    expect(replay.json).toEqual({ replayed: 2 })
    await waitFor(
      'the replayed items to be delivered',
      async () => ((await queueDepth(relay.url)) === 0 ? true : undefined),
      15_000,
    )
    const s = sandbox.inspect()
    expect(s.contacts.filter((c) => c.extRef === 'redirect-1')).toHaveLength(1)
    expect(
      s.workflowRuns.filter((r) => (r.payload as { messageId?: string }).messageId === 'redirect-2'),
    ).toHaveLength(1)
  })

  it('refuses at delivery a workflow URL planted in the store behind the HTTP checks', async ({ task }) => {
    const path = join(dir, 'planted.db')
    const store = createSqliteStore({ path })
    const planted = workflowItem(target, 'planted-1')
    planted.payload.workflowUrl = `${evil.url}/inbound-event/v1/events/json/triggers?urlTokenId=planted`
    await store.accept(
      [
        {
          id: deriveItemId({
            source: 'Reliability',
            messageId: planted.messageId,
            mappingId: planted.mapping,
          }),
          messageId: planted.messageId,
          mappingId: planted.mapping,
          action: 'triggerXflowWorkflow',
          payload: planted.payload as never,
          source: 'Reliability',
        },
      ],
      Date.now(),
    )
    await store.close()
    const second = await startRelay({
      config: relayConfig(target, { storagePath: path }),
      token: sandbox.token,
      baseUrl: gateway.url,
    })
    try {
      const dead = await waitFor(
        'the planted item to be dead-lettered',
        async () => {
          const list = await listDeadLetters(second.url)
          return list.length === 1 ? list : undefined
        },
        15_000,
      )
      figure(task, 'deadLetter', 'the planted item ends as', `dead letter ${dead[0]?.lastError?.code ?? ''}`)
      expect(dead[0]?.lastError?.code).toBe('HOST_NOT_ALLOWED')
      expect(evil.requests).toEqual([])
    } finally {
      await second.close()
    }
  })

  it('sent the token to the gateway and nowhere else, and wrote it nowhere', ({ task }) => {
    const withCredential = outgoing.filter((o) => o.credential)
    const elsewhere = withCredential.filter((o) => o.origin !== gateway.url)
    const origins = [...new Set(outgoing.map((o) => o.origin))]
    figure(task, 'credentialed', 'outgoing requests carrying the token', withCredential.length)
    figure(task, 'elsewhere', 'of which to another origin than the gateway', elsewhere.length)
    figure(task, 'evil', 'requests that reached the evil server', evil.requests.length)
    figure(task, 'answers', 'proxy answers checked for the token', answers.length)
    expect(withCredential.length).toBeGreaterThan(0)
    const named = (origin: string) =>
      ({ [gateway.url]: 'gateway', [relay.url]: 'proxy', [sandbox.url]: 'sandbox', [evil.url]: 'evil' })[
        origin
      ] ?? origin
    expect(elsewhere.map((o) => named(o.origin))).toEqual([])
    expect(
      origins.every((o) => o === gateway.url || o === relay.url || o.startsWith('http://127.0.0.1:')),
    ).toBe(true)
    expect(evil.requests).toEqual([])
    expect(
      gateway.requests.every(
        (r) => r.headers['x-api-token'] === sandbox.token || r.url.startsWith('/inbound-event/'),
      ),
    ).toBe(true)
    const logs = relay.logs.join('')
    for (const secret of [sandbox.token, ADMIN_TOKEN, SECRET]) {
      expect(logs.includes(secret)).toBe(false)
      expect(answers.some((a) => a.text.includes(secret))).toBe(false)
    }
    expect(sandbox.inspect().requests.some((r) => r.query.includes(sandbox.token))).toBe(false)
  })
})
