// Every refusal of the proxy, against the real server: CORS, write keys, body limits, content types,
// malformed JSON, schema errors, allowlists (with workflow URL tricks), signed identities, the admin
// token, rate limits — and the Qualtrics token never appears in any answer or log line.
import type { RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signIdentity } from '../src/security/identity'
import {
  ADMIN_TOKEN,
  contactItem,
  delivered,
  feedbackItem,
  mappingsFor,
  messageId,
  postBatch,
  purchaseItem,
  request,
  SIGNING_SECRET,
  SITE,
  startHarness,
  type Answer,
  type Harness,
} from './helpers'

const SIGNED_SITE = 'https://members.example'

let h: Harness
const answers: Answer[] = []
async function record(promise: Promise<Answer>): Promise<Answer> {
  const answer = await promise
  answers.push(answer)
  return answer
}
const post = (body: unknown, headers: Record<string, string> = {}) => record(postBatch(h.url, body, headers))
const get = (path: string, init: RequestInit = {}) => record(request(`${h.url}${path}`, init))

/** The error of an answer without its request id (which changes each run). */
function errorOf(answer: Answer): unknown {
  const body = answer.json as { error: { requestId?: string } }
  const { requestId, ...rest } = body.error
  expect(requestId).toEqual(expect.any(String))
  return rest
}

beforeAll(async () => {
  h = await startHarness({
    writeKeys: (sandbox: RunningSandbox) => ({
      wk_test: { name: 'Test site', origins: [SITE], mappings: mappingsFor(sandbox) },
      wk_signed: {
        name: 'Members area',
        origins: [SIGNED_SITE],
        mappings: mappingsFor(sandbox),
        identity: { secretEnv: 'SIGNING_SECRET' },
      },
    }),
  })
})

afterAll(async () => {
  await h.close()
  // The token never left the proxy: no answer and no log line holds it.
  expect(answers.length).toBeGreaterThan(0)
  for (const answer of answers) {
    expect(answer.text).not.toContain(h.sandbox.token)
    for (const [, value] of answer.headers) expect(value).not.toContain(h.sandbox.token)
  }
  expect(h.logs.lines.length).toBeGreaterThan(0)
  expect(h.logs.text()).not.toContain(h.sandbox.token)
  expect(h.logs.text()).not.toContain(ADMIN_TOKEN)
  expect(h.logs.text()).not.toContain(SIGNING_SECRET)
})

describe('CORS', () => {
  it('answers a preflight from a configured origin', async () => {
    const answer = await get('/v1/batch', {
      method: 'OPTIONS',
      headers: {
        Origin: SITE,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type',
      },
    })
    expect(answer.status).toBe(204)
    expect(answer.headers.get('access-control-allow-origin')).toBe(SITE)
    expect(answer.headers.get('access-control-allow-methods')).toContain('POST')
    expect(answer.headers.get('access-control-allow-headers')).toContain('Content-Type')
    // the browser plugin revalidates its cached settings with If-None-Match
    expect(answer.headers.get('access-control-allow-headers')).toContain('If-None-Match')
    expect(answer.headers.get('vary')).toContain('Origin')
  })

  it('refuses a preflight from an origin no write key allows', async () => {
    const answer = await get('/v1/batch', {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.test', 'Access-Control-Request-Method': 'POST' },
    })
    expect(answer.status).toBe(403)
    expect(answer.headers.get('access-control-allow-origin')).toBeNull()
    expect(errorOf(answer)).toMatchInlineSnapshot(`
      {
        "code": "ORIGIN_NOT_ALLOWED",
        "message": "The origin "https://evil.test" is not allowed; add it to the write key's "origins"",
      }
    `)
  })

  it('refuses a batch whose origin is not allowed for its write key, even a simple text/plain one', async () => {
    const answer = await post(
      { writeKey: 'wk_signed', items: [contactItem(h.sandbox)] },
      { Origin: SITE, 'Content-Type': 'text/plain' },
    )
    expect(answer.status).toBe(403)
    // The refusal is readable by the page (else it only sees "Failed to fetch" and retries for ever).
    expect(answer.headers.get('access-control-allow-origin')).toBe(SITE)
    expect(errorOf(answer)).toMatchInlineSnapshot(`
      {
        "code": "ORIGIN_NOT_ALLOWED",
        "message": "The origin "https://shop.example" is not allowed for this write key; add it to its "origins"",
      }
    `)
  })

  it('gives CORS headers to allowed origins, and to the refusals of others so their pages can read why', async () => {
    const allowed = await get('/v1/settings?writeKey=wk_test', { headers: { Origin: SITE } })
    expect(allowed.status).toBe(200)
    expect(allowed.headers.get('access-control-allow-origin')).toBe(SITE)
    expect(allowed.headers.get('vary')).toContain('Origin')
    const other = await get('/v1/settings?writeKey=wk_test', { headers: { Origin: 'https://evil.test' } })
    expect(other.status).toBe(403)
    expect(other.headers.get('access-control-allow-origin')).toBe('https://evil.test')
    expect(errorOf(other)).toMatchObject({ code: 'ORIGIN_NOT_ALLOWED' })
    const unknownKey = await get('/v1/settings?writeKey=wk_nope', {
      headers: { Origin: 'https://evil.test' },
    })
    expect(unknownKey.status).toBe(401)
    expect(unknownKey.headers.get('access-control-allow-origin')).toBe('https://evil.test')
    // Only refusals: the settings themselves are never served to an origin the key does not allow.
    expect(other.text).not.toContain('mappings')
  })

  it('logs each refusal with its code and the origin it came from', async () => {
    const before = h.logs.lines.length
    await get('/v1/settings?writeKey=wk_test', { headers: { Origin: 'https://unlisted.example' } })
    const lines = h.logs.lines.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'request',
        status: 403,
        code: 'ORIGIN_NOT_ALLOWED',
        origin: 'https://unlisted.example',
      }),
    )
  })

  it('serves callers without an Origin (servers) and sends security headers', async () => {
    const answer = await get('/v1/settings?writeKey=wk_test')
    expect(answer.status).toBe(200)
    expect(answer.headers.get('x-content-type-options')).toBe('nosniff')
    expect(answer.headers.get('x-frame-options')).toBe('DENY')
    expect(answer.headers.get('referrer-policy')).toBe('no-referrer')
    expect(answer.headers.get('content-security-policy')).toContain("default-src 'none'")
    expect(answer.headers.get('x-powered-by')).toBeNull()
  })
})

describe('write keys and bodies', () => {
  it('refuses an unknown write key with 401', async () => {
    const answer = await post({ writeKey: 'wk_forged', items: [contactItem(h.sandbox)] })
    expect(answer.status).toBe(401)
    expect(errorOf(answer)).toMatchInlineSnapshot(`
      {
        "code": "UNKNOWN_WRITE_KEY",
        "message": "Unknown write key (Received: "wk_forged"); check the plugin's writeKey against the proxy's writeKeys",
      }
    `)
    expect((await get('/v1/settings?writeKey=wk_forged')).status).toBe(401)
    expect((await get('/v1/settings')).status).toBe(400)
  })

  it('refuses a body over the limit with 413', async () => {
    const big = {
      writeKey: 'wk_test',
      items: [contactItem(h.sandbox, messageId(), { firstName: 'x'.repeat(110 * 1024) })],
    }
    const answer = await post(big)
    expect(answer.status).toBe(413)
    expect(errorOf(answer)).toMatchInlineSnapshot(`
      {
        "code": "PAYLOAD_TOO_LARGE",
        "message": "The body is larger than the limit of 102400 bytes; send fewer items per batch",
      }
    `)
  })

  it.each([['application/xml'], ['application/x-www-form-urlencoded'], ['multipart/form-data; boundary=x']])(
    'refuses %s with 415',
    async (type) => {
      const answer = await post('<batch/>', { 'Content-Type': type })
      expect(answer.status).toBe(415)
      expect((answer.json as { error: { code: string } }).error.code).toBe('UNSUPPORTED_MEDIA_TYPE')
    },
  )

  it('refuses malformed JSON with 400', async () => {
    const answer = await post('{"writeKey": "wk_test", "items": [')
    expect(answer.status).toBe(400)
    expect(errorOf(answer)).toMatchInlineSnapshot(`
      {
        "code": "MALFORMED_JSON",
        "message": "The body is not valid JSON",
      }
    `)
  })

  it('lists every schema error of a batch with 400', async () => {
    const answer = await post({
      writeKey: 'wk_test',
      items: [
        { messageId: '', mapping: 'contact', action: 'addContactToXmd', payload: 'x' },
        {
          messageId: messageId(),
          mapping: 'contact',
          action: 'addContactToXmd',
          payload: { directoryId: 'nope', language: 7, extra: 1 },
        },
        { messageId: messageId(), mapping: 'nope', action: 'addContactToXmd', payload: {} },
        { messageId: messageId(), mapping: 'contact', action: 'triggerXflowWorkflow', payload: {} },
      ],
    })
    expect(answer.status).toBe(400)
    const error = errorOf(answer) as {
      code: string
      message: string
      issues: { path: string; message: string }[]
    }
    expect(error.code).toBe('PAYLOAD_INVALID')
    // Every problem of every item is listed (the payload's own messages come from core's checkPayload).
    expect(error.issues.map((i) => i.path)).toMatchInlineSnapshot(`
      [
        "items.0.messageId",
        "items.0.payload",
        "items.1.payload.extra",
        "items.1.payload.extRef",
        "items.1.payload.directoryId",
        "items.2.mapping",
        "items.3.action",
      ]
    `)
    expect(error.issues.filter((i) => !i.path.includes('.payload'))).toMatchInlineSnapshot(`
      [
        {
          "message": "must be a non-empty string (Received: "")",
          "path": "items.0.messageId",
        },
        {
          "message": "is not a mapping of this write key (Received: "nope")",
          "path": "items.2.mapping",
        },
        {
          "message": "must be addContactToXmd for mapping contact (Received: "triggerXflowWorkflow")",
          "path": "items.3.action",
        },
      ]
    `)
  })

  it('refuses a batch without items', async () => {
    const answer = await post({ writeKey: 'wk_test', items: [] })
    expect(answer.status).toBe(400)
    expect(errorOf(answer)).toMatchInlineSnapshot(`
      {
        "code": "PAYLOAD_INVALID",
        "issues": [
          {
            "message": "must hold 1 to 100 items (Received: 0 items)",
            "path": "items",
          },
        ],
        "message": "Invalid batch",
      }
    `)
  })
})

describe('allowlists', () => {
  it('refuses a directory and a mailing list the write key may not use with 403', async () => {
    const answer = await post({
      writeKey: 'wk_test',
      items: [
        contactItem(h.sandbox, messageId(), { directoryId: 'POOL_someoneElse' }),
        purchaseItem(h.sandbox, messageId(), { mailingListId: 'CG_someoneElse' }),
      ],
    })
    expect(answer.status).toBe(403)
    expect(errorOf(answer)).toMatchInlineSnapshot(`
      {
        "code": "FORBIDDEN",
        "issues": [
          {
            "message": "is not in the write key's allow.directories (Received: "POOL_someoneElse")",
            "path": "items.0.payload.directoryId",
          },
          {
            "message": "is not in the write key's allow.mailingLists (Received: "CG_someoneElse")",
            "path": "items.1.payload.mailingListId",
          },
        ],
        "message": "Every item of the batch was refused",
      }
    `)
  })

  it.each([
    [
      'a lookalike host',
      'https://qualtrics.com.evil.test/inbound-event/v1/events/json/triggers?urlTokenId=x',
    ],
    [
      'user info before another host',
      'https://iad1.qualtrics.com@evil.test/inbound-event/v1/events/json/triggers',
    ],
    ['an IPv4 literal', 'https://169.254.169.254/latest/meta-data'],
    ['an IPv6 literal', 'https://[::1]/inbound-event/v1/events/json/triggers'],
    [
      'plain http to Qualtrics',
      'http://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=x',
    ],
    [
      'a real Qualtrics trigger not in the allowlist',
      'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=other',
    ],
    ['not a URL', 'javascript:alert(1)'],
  ])('refuses a workflow URL with %s with 403', async (_name, url) => {
    const answer = await post({
      writeKey: 'wk_test',
      items: [feedbackItem(h.sandbox, messageId(), { workflowUrl: url })],
    })
    expect(answer.status).toBe(403)
    expect((answer.json as { error: { code: string } }).error.code).toBe('FORBIDDEN')
  })

  it('accepts the good items of a mixed batch and refuses the others one by one', async () => {
    const good = contactItem(h.sandbox)
    const bad = contactItem(h.sandbox, messageId(), { directoryId: 'POOL_someoneElse' })
    const answer = await post({ writeKey: 'wk_test', items: [good, bad] })
    expect(answer.status).toBe(202)
    expect(answer.json).toEqual({
      results: [
        { messageId: good.messageId, mapping: 'contact', status: 'accepted' },
        {
          messageId: bad.messageId,
          mapping: 'contact',
          status: 'rejected',
          error: {
            code: 'FORBIDDEN',
            message: `directoryId is not allowed for this write key: payload.directoryId is not in the write key's allow.directories (Received: "POOL_someoneElse")`,
          },
        },
      ],
    })
  })
})

describe('signed identities', () => {
  const signed = (extra: Record<string, unknown> = {}, identity?: { userId: string; signature: string }) => ({
    ...purchaseItem(h.sandbox, messageId(), { extRef: 'member-7', ...extra }),
    ...(identity ? { identity } : {}),
  })
  const send = (items: unknown[]) => post({ writeKey: 'wk_signed', items }, { Origin: SIGNED_SITE })

  it('accepts an item whose identity is signed with the write key secret', async () => {
    const answer = await send([
      signed({}, { userId: 'member-7', signature: signIdentity(SIGNING_SECRET, 'member-7') }),
    ])
    expect(answer.status).toBe(202)
  })

  it('refuses an item without an identity', async () => {
    const answer = await send([signed()])
    expect(answer.status).toBe(403)
    expect(errorOf(answer)).toMatchInlineSnapshot(`
      {
        "code": "IDENTITY_INVALID",
        "issues": [
          {
            "message": "is required: { userId, signature } signed by your backend (Received: undefined)",
            "path": "items.0.identity",
          },
        ],
        "message": "Every item of the batch was refused",
      }
    `)
  })

  it('refuses a forged signature', async () => {
    const answer = await send([
      signed({}, { userId: 'member-7', signature: signIdentity('a-guessed-secret-0000', 'member-7') }),
    ])
    expect(answer.status).toBe(403)
    expect(errorOf(answer)).toMatchInlineSnapshot(`
      {
        "code": "IDENTITY_INVALID",
        "issues": [
          {
            "message": "does not match identity.userId",
            "path": "items.0.identity.signature",
          },
        ],
        "message": "Every item of the batch was refused",
      }
    `)
  })

  it("refuses someone else's extRef under a valid signature", async () => {
    const answer = await send([
      signed(
        { extRef: 'member-8' },
        { userId: 'member-7', signature: signIdentity(SIGNING_SECRET, 'member-7') },
      ),
    ])
    expect(answer.status).toBe(403)
    expect(errorOf(answer)).toMatchInlineSnapshot(`
      {
        "code": "IDENTITY_INVALID",
        "issues": [
          {
            "message": "must equal identity.userId (Received: "member-8")",
            "path": "items.0.payload.extRef",
          },
        ],
        "message": "Every item of the batch was refused",
      }
    `)
  })

  it('refuses a contactId, which would bypass the signed extRef', async () => {
    const answer = await send([
      signed(
        { contactId: 'CID_victim' },
        { userId: 'member-7', signature: signIdentity(SIGNING_SECRET, 'member-7') },
      ),
    ])
    expect(answer.status).toBe(403)
    expect((answer.json as { error: { code: string } }).error.code).toBe('IDENTITY_INVALID')
  })

  it.each(['ALICE-7', 'Alice-7', ' alice-7', 'alice-7 ', 'stra\u00dfe-1', '\u0131d-1'])(
    'refuses the signed userId %j, which Qualtrics would match to another spelling of it',
    async (userId) => {
      const item = signed({ extRef: userId }, { userId, signature: signIdentity(SIGNING_SECRET, userId) })
      const answer = await send([item])
      expect(answer.status).toBe(403)
      expect(errorOf(answer)).toMatchObject({
        code: 'IDENTITY_INVALID',
        issues: [{ path: 'items.0.identity.userId', message: expect.stringContaining('must be lower case') }],
      })
    },
  )

  it('never lets "ALICE-7" reach the contact of signed user "alice-7"', async () => {
    const as = (userId: string) => ({ userId, signature: signIdentity(SIGNING_SECRET, userId) })
    const owner = contactItem(h.sandbox, messageId(), {
      extRef: 'alice-7',
      firstName: 'Alice',
      email: 'alice@example.com',
    })
    expect((await send([{ ...owner, identity: as('alice-7') }])).status).toBe(202)
    await delivered(h.url, owner.messageId, 'wk_signed')
    const before = h.sandbox.inspect().contacts.find((c) => c.extRef === 'alice-7')!

    for (const spelling of ['ALICE-7', ' alice-7 ']) {
      const purchase = purchaseItem(h.sandbox, messageId(), { extRef: spelling })
      const profile = contactItem(h.sandbox, messageId(), {
        extRef: spelling,
        firstName: 'Mallory',
        embeddedData: { takenOver: true },
      })
      const answer = await send([
        { ...purchase, identity: as(spelling) },
        { ...profile, identity: as(spelling) },
      ])
      expect(answer.status).toBe(403)
    }
    // Her own purchase still lands on her contact.
    const hers = purchaseItem(h.sandbox, messageId(), { extRef: 'alice-7' })
    expect((await send([{ ...hers, identity: as('alice-7') }])).status).toBe(202)
    await delivered(h.url, hers.messageId, 'wk_signed')

    const state = h.sandbox.inspect()
    expect(state.contacts.find((c) => c.id === before.id)).toEqual(before)
    expect(state.contacts.filter((c) => c.extRef?.trim().toLowerCase() === 'alice-7')).toHaveLength(1)
    expect(state.transactions.filter((t) => t.contactId === before.id)).toHaveLength(1)
  })

  it("cannot reach someone else's contact with their e-mail or phone under its own signature", async () => {
    // The sandbox's directory merges on extRef, then e-mail: the attacker's items must neither be
    // looked up by e-mail nor merged into the victim's contact by it.
    const as = (userId: string) => ({ userId, signature: signIdentity(SIGNING_SECRET, userId) })
    const victim = { extRef: 'victim-1', email: 'victim@example.com', phone: '+44 20 7946 0000' }
    const identify = contactItem(h.sandbox, messageId(), { ...victim, firstName: 'Vic' })
    expect((await send([{ ...identify, identity: as('victim-1') }])).status).toBe(202)
    await delivered(h.url, identify.messageId, 'wk_signed')
    const before = h.sandbox.inspect().contacts.find((c) => c.extRef === 'victim-1')!
    expect(before).toMatchObject({ ...victim, firstName: 'Vic', mergeCount: 0 })

    const stolen = { email: 'VICTIM@example.com', phone: victim.phone }
    const purchase = purchaseItem(h.sandbox, messageId(), { extRef: 'attacker-1', ...stolen })
    const profile = contactItem(h.sandbox, messageId(), {
      extRef: 'attacker-1',
      ...stolen,
      firstName: 'Mallory',
      embeddedData: { takenOver: true },
    })
    const answer = await send([
      { ...purchase, identity: as('attacker-1') },
      { ...profile, identity: as('attacker-1') },
    ])
    expect(answer.status).toBe(202)
    await delivered(h.url, purchase.messageId, 'wk_signed')
    await delivered(h.url, profile.messageId, 'wk_signed')

    const state = h.sandbox.inspect()
    const after = state.contacts.find((c) => c.id === before.id)
    expect(after).toEqual(before)
    expect(state.transactions.filter((t) => t.contactId === before.id)).toEqual([])
    const attacker = state.contacts.filter((c) => c.extRef === 'attacker-1')
    expect(attacker).toHaveLength(1)
    expect(attacker[0]).not.toHaveProperty('email')
    expect(attacker[0]).not.toHaveProperty('phone')
    expect(state.transactions.filter((t) => t.contactId === attacker[0]!.id)).toHaveLength(1)
  })
})

describe('what other write keys can see', () => {
  it('never serves the signing secret in settings', async () => {
    const answer = await get('/v1/settings?writeKey=wk_signed', { headers: { Origin: SIGNED_SITE } })
    expect(answer.status).toBe(200)
    expect(answer.text).not.toContain(SIGNING_SECRET)
    expect(answer.text).not.toContain('SIGNING_SECRET')
  })

  it("does not show one write key's messages to another", async () => {
    const item = contactItem(h.sandbox)
    expect((await post({ writeKey: 'wk_test', items: [item] })).status).toBe(202)
    expect((await get(`/v1/messages/${item.messageId}?writeKey=wk_test`)).status).toBe(200)
    const other = await get(`/v1/messages/${item.messageId}?writeKey=wk_signed`)
    expect(other.status).toBe(404)
  })
})

describe('admin API', () => {
  it.each([
    ['no Authorization header', {}],
    ['a wrong token', { Authorization: 'Bearer not-the-admin-token-000000' }],
    ['the token in a Basic header', { Authorization: `Basic ${ADMIN_TOKEN}` }],
  ])('refuses %s with 401', async (_name, headers) => {
    const answer = await get('/admin/dead-letters', { headers })
    expect(answer.status).toBe(401)
    expect(answer.headers.get('www-authenticate')).toContain('Bearer')
    expect((answer.json as { error: { code: string } }).error.code).toBe('UNAUTHORIZED')
  })

  it('answers with the admin token', async () => {
    const answer = await get('/admin/dead-letters', { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })
    expect(answer.status).toBe(200)
    expect(answer.json).toEqual({ deadLetters: [] })
    expect(answer.headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('rate limits', () => {
  it('answers 429 with Retry-After past the per-IP and per-write-key buckets', async () => {
    const limited = await startHarness({
      config: { rateLimits: { perIp: { perMinute: 60, burst: 3 }, perWriteKey: false } },
    })
    try {
      const statuses: number[] = []
      let last: Answer | undefined
      for (let i = 0; i < 5; i++) {
        last = await record(request(`${limited.url}/v1/settings?writeKey=wk_test`))
        statuses.push(last.status)
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429])
      expect(Number(last?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      expect((last?.json as { error: { code: string } }).error.code).toBe('RATE_LIMITED')
      // Probes and metrics are not rate limited.
      expect((await request(`${limited.url}/healthz`)).status).toBe(200)
    } finally {
      await limited.close()
    }

    const perKey = await startHarness({
      config: { rateLimits: { perIp: false, perWriteKey: { perMinute: 60, burst: 2 } } },
    })
    try {
      const statuses: number[] = []
      for (let i = 0; i < 3; i++) {
        const answer = await record(
          postBatch(perKey.url, { writeKey: 'wk_test', items: [contactItem(perKey.sandbox)] }),
        )
        statuses.push(answer.status)
      }
      expect(statuses).toEqual([202, 202, 429])
    } finally {
      await perKey.close()
    }
  })
})
