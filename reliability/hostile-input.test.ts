// Hostile input: property-based fuzzing (fast-check, fixed seed) of POST /v1/batch, GET /v1/settings,
// GET /v1/messages/:id, the admin endpoints and unknown routes, with generated bodies and headers —
// malformed and truncated JSON, wrong types, huge strings and arrays, deep nesting, `__proto__` and
// `constructor` keys, unicode (lone surrogates included), invalid UTF-8, wrong content types and
// encodings. No answer may be a 5xx, every refusal must be a 4xx with `{ error: { code, message } }`,
// nothing may crash or pollute prototypes, and afterwards the proxy must still accept and deliver a
// valid batch. The per-IP and per-write-key rate limits are off for the fuzz run and checked on their own.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isCanonicalUserId, signIdentity } from '@qualtrics-relay/proxy'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { figure, note } from './lib/figures'
import { startRelay, type InProcessRelay } from './lib/in-process'
import {
  ADMIN_TOKEN,
  contactItem,
  mappingsFor,
  postBatch,
  purchaseItem,
  readMetrics,
  relayConfig,
  request,
  resultsOf,
  SITE,
  targetOf,
  waitFor,
  WRITE_KEY,
  workflowItem,
  type Answer,
  type Target,
} from './lib/relay'

const SEED = 424_242
const SIGNED_KEY = 'wk_signed'
const SECRET = 'reliability-signing-secret-0123456789'
/** Runs per endpoint family; 10,000 and more in total. */
const RUNS = { batch: 5_000, rawBatch: 1_500, settings: 1_500, messages: 500, admin: 1_500, other: 500 }

let sandbox: RunningSandbox
let relay: InProcessRelay
let target: Target
let dir: string
const prototypeKeysBefore = Object.getOwnPropertyNames(Object.prototype).sort()

/** Every answer seen, by endpoint family: status → count. */
const seen = new Map<string, Map<number, number>>()
const problems: string[] = []
let nodeRefusals = 0

/** fast-check's own report prints whole counterexamples (some are 150 kB): report the first problem instead. */
function settings(numRuns: number, seed: number): fc.Parameters<unknown> {
  return {
    numRuns,
    seed,
    reporter: (details) => {
      if (details.failed) {
        throw new Error(
          `failed after ${details.numRuns} runs (seed ${details.seed}): ${problems[0] ?? String(details.errorInstance).slice(0, 500)}`,
        )
      }
    },
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-fuzz-'))
  sandbox = await startSandbox({ randomSeed: SEED })
  target = targetOf(sandbox)
  relay = await startRelay({
    config: relayConfig(target, {
      storagePath: join(dir, 'relay.db'),
      writeKeys: {
        [WRITE_KEY]: { name: 'Reliability', origins: [SITE], mappings: mappingsFor(target) },
        [SIGNED_KEY]: {
          name: 'Signed',
          origins: ['*'],
          mappings: mappingsFor(target),
          identity: { secretEnv: 'RELIABILITY_SIGNING_SECRET' },
        },
      },
    }),
    token: sandbox.token,
    baseUrl: sandbox.url,
    env: { RELIABILITY_SIGNING_SECRET: SECRET },
  })
})

afterAll(async () => {
  await relay?.close()
  await sandbox?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** The rule for every answer: below 500, and a refusal carries `{ error: { code, message } }`. */
function judge(family: string, answer: Answer, what: () => string): void {
  const byStatus = seen.get(family) ?? new Map<number, number>()
  seen.set(family, byStatus)
  byStatus.set(answer.status, (byStatus.get(answer.status) ?? 0) + 1)
  const error = (answer.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error
  let problem: string | undefined
  // Node's HTTP parser refuses a request line or headers over 16 KiB before the app sees them; the
  // proxy still answers those with the JSON error body, which the rules below check.
  if (answer.status === 431) nodeRefusals++
  if (answer.status >= 500) problem = `answered ${answer.status}`
  else if (answer.status >= 400 && (typeof error?.code !== 'string' || typeof error.message !== 'string'))
    problem = `answered ${answer.status} without { error: { code, message } }: ${answer.text.slice(0, 120)}`
  else if (answer.text.includes(sandbox.token)) problem = 'the answer contains the API token'
  if (problem !== undefined) {
    problems.push(`${family}: ${problem} for ${what().slice(0, 300)}`)
    throw new Error(`${family}: ${problem}`)
  }
}

// ---------------------------------------------------------------------------------------------------
// Generators

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/** `arb` one time in `every`, otherwise undefined. */
function rarely<T>(arb: fc.Arbitrary<T>, every: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: every - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb })
}

/** Percent-encodes anything; a lone surrogate becomes the (invalid) UTF-8 bytes a sloppy client sends. */
function pct(text: string): string {
  return encodeURIComponent(text.replace(LONE_SURROGATE, '\u0001')).replace(/%01/g, '%ED%A0%80')
}

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) })
const unicode = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '\u0000',
    '\ud800',
    '\udfff\ud800',
    '\u202e\u0645\u0631\u062d\u0628\u0627',
    '🧪'.repeat(30),
    'ﾟ･✿ヾ╲(｡◕‿◕｡)╱✿･ﾟ',
  ),
)
const huge = fc.integer({ min: 1_000, max: 150_000 }).map((n) => 'x'.repeat(n))
const hostileString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: unicode },
  { weight: 1, arbitrary: huge },
  {
    weight: 1,
    arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'),
  },
)
const keyish = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'directoryId', 'mailingListId', 'extRef', 'email'),
  fc.constantFrom(
    'workflowUrl',
    'eventPayload',
    'transactionData',
    'transactionDate',
    'contactId',
    'embeddedData',
  ),
  fc.string({ maxLength: 12 }),
)
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  hostileString,
  fc.constantFrom(null, true, 0, -1, 1e308, Number.MAX_SAFE_INTEGER, [], {}),
)
const nested = fc
  .tuple(fc.integer({ min: 20, max: 3_000 }), fc.constantFrom('[', '{"a":'))
  .map(([depth, open]) => ({ depth, open }))

const writeKey = fc.oneof(
  { weight: 6, arbitrary: fc.constant(WRITE_KEY) },
  { weight: 2, arbitrary: fc.constant(SIGNED_KEY) },
  { weight: 2, arbitrary: hostileString },
  { weight: 1, arbitrary: anyValue },
)

/** A valid item with odd but legal values (unicode, long strings, nested data): the accepted path. */
let validCounter = 0
const validItem = fc
  .record({
    base: fc.constantFrom('contact', 'purchase', 'workflow'),
    name: unicode,
    extRef: fc.oneof(fc.uuid(), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 })),
    data: fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.jsonValue({ maxDepth: 3 }), {
      maxKeys: 6,
    }),
    signed: fc.boolean(),
  })
  .map((g) => {
    const id = `fuzz-valid-${++validCounter}`
    // A signed userId must be in the one case-free form (see the proxy README): otherwise the id itself.
    const extRef = g.extRef.trim() === '' || (g.signed && !isCanonicalUserId(g.extRef)) ? id : g.extRef
    const base =
      g.base === 'contact'
        ? contactItem(target, id, extRef)
        : g.base === 'purchase'
          ? purchaseItem(target, id, extRef)
          : workflowItem(target, id)
    const payload: Record<string, unknown> = { ...base.payload }
    if (g.base === 'contact') payload.firstName = g.name
    if (g.base === 'purchase') payload.transactionData = { ...g.data, messageId: id }
    if (g.base === 'workflow') payload.eventPayload = { ...g.data, messageId: id, name: g.name }
    const out: Record<string, unknown> = { ...base, payload }
    if (g.signed) out.identity = { userId: extRef, signature: signIdentity(SECRET, extRef) }
    return out
  })

/** An item that is often nearly right: real mappings and payloads with hostile parts swapped in. */
const hostileItem = fc
  .record(
    {
      base: fc.constantFrom('contact', 'purchase', 'workflow'),
      messageId: fc.oneof(fc.uuid(), hostileString, anyValue),
      mapping: fc.oneof(fc.constantFrom('contact', 'purchase', 'feedback'), hostileString),
      action: fc.oneof(
        fc.constantFrom('addContactToXmd', 'upsertContactTransaction', 'triggerXflowWorkflow'),
        hostileString,
      ),
      extra: fc.dictionary(keyish, anyValue, { maxKeys: 4 }),
      identity: fc.option(
        fc.oneof(
          fc.record({
            userId: hostileString,
            signature: fc.oneof(
              printable,
              fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }),
            ),
          }),
          fc.string().map((userId) => ({ userId, signature: signIdentity(SECRET, userId) })),
          anyValue,
        ),
        { nil: undefined },
      ),
      drop: fc.subarray(['messageId', 'mapping', 'action', 'payload']),
    },
    { requiredKeys: ['base', 'messageId', 'mapping', 'action', 'extra', 'drop'] },
  )
  .map((g) => {
    const base =
      g.base === 'contact'
        ? contactItem(target, 'm', 'u')
        : g.base === 'purchase'
          ? purchaseItem(target, 'm', 'u')
          : workflowItem(target, 'm')
    const out: Record<string, unknown> = {
      messageId: g.messageId,
      mapping: g.mapping,
      action: g.action,
      payload: { ...base.payload, ...g.extra },
    }
    if (g.identity !== undefined) out.identity = g.identity
    for (const key of g.drop) delete out[key]
    return out
  })

const item = fc.oneof({ weight: 2, arbitrary: validItem }, { weight: 3, arbitrary: hostileItem })

const batchBody = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ writeKey, items: fc.array(item, { minLength: 1, maxLength: 6 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ writeKey, items: fc.array(item, { maxLength: 6 }) }, { requiredKeys: [] }),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(writeKey, fc.dictionary(keyish, anyValue, { maxKeys: 5 }), fc.array(item, { maxLength: 3 }))
      .map(([wk, rest, items]) => ({ writeKey: wk, ...rest, items })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 101, max: 3_000 }).map((n) => ({
      writeKey: WRITE_KEY,
      items: Array.from({ length: n }, (_, i) => contactItem(target, `many-${i}`, `many-${i}`)),
    })),
  },
  { weight: 1, arbitrary: anyValue },
)

const contentType = fc.oneof(
  {
    weight: 16,
    arbitrary: fc.constantFrom(
      'application/json',
      'text/plain;charset=UTF-8',
      'application/json; charset=utf-8',
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'application/json; charset=latin1',
      'application/json; charset=utf-16',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      'text/html',
      '*/*',
      'application/json, text/plain',
      '',
    ),
  },
  { weight: 1, arbitrary: printable },
)

const headers = fc.record(
  {
    origin: fc.oneof(
      { weight: 6, arbitrary: fc.constant(SITE) },
      fc.constantFrom('https://evil.test', 'null', 'https://shop.example.evil.test', 'http://shop.example'),
      printable,
    ),
    requestId: fc.oneof(fc.uuid(), printable),
    encoding: rarely(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown'), 10),
    accept: fc.oneof(fc.constantFrom('application/json', 'text/html', '*/*'), printable),
  },
  { requiredKeys: [] },
)

function headerInit(
  h: { origin?: string; requestId?: string; encoding?: string | undefined; accept?: string },
  type?: string,
) {
  const out: Record<string, string> = {}
  if (type !== undefined) out['Content-Type'] = type
  if (h.origin !== undefined) out.Origin = h.origin
  if (h.requestId !== undefined) out['X-Request-Id'] = h.requestId
  if (h.encoding !== undefined) out['Content-Encoding'] = h.encoding
  if (h.accept !== undefined) out.Accept = h.accept
  return out
}

/** JSON text broken in the ways a client or an attacker breaks it. */
const rawBody = fc.oneof(
  // valid JSON text, then truncated, or a byte changed
  fc
    .tuple(batchBody, fc.nat(), fc.constantFrom('', '"', '{', '}', ',', '\\', '\u0000', 'NaN', '\ud800'))
    .map(([body, cut, insert]) => {
      const text = JSON.stringify(body) ?? 'null'
      const at = cut % (text.length + 1)
      return text.slice(0, at) + insert + text.slice(at + (insert === '' ? 0 : 1))
    }),
  // prototype pollution attempts, at the top, in items and in payloads
  fc
    .constantFrom('__proto__', 'constructor', 'prototype')
    .map(
      (key) =>
        `{"writeKey":"${WRITE_KEY}","${key}":{"polluted":"yes","prototype":{"polluted":"yes"}},"items":[{"messageId":"p1","mapping":"contact","action":"addContactToXmd","${key}":{"polluted":"yes"},"payload":{"${key}":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"directoryId":"${target.directoryId}","extRef":"proto-${key}","embeddedData":{"${key}":{"polluted":"yes"}}}}]}`,
    ),
  // deep nesting, at the top or inside a payload
  nested.map(({ depth, open }) => {
    const close = open === '[' ? ']' : '}'
    const deep = `${open.repeat(depth)}1${close.repeat(depth)}`
    return `{"writeKey":"${WRITE_KEY}","items":[{"messageId":"deep","mapping":"purchase","action":"upsertContactTransaction","payload":{"transactionData":${deep}}}]}`
  }),
  nested.map(
    ({ depth, open }) =>
      `${open.repeat(depth)}${open === '[' ? ']' : '1}'}${(open === '[' ? ']' : '}').repeat(depth - 1)}`,
  ),
  // lone surrogates and odd escapes inside strings
  fc
    .constantFrom('\\ud800', '\\udfff', '\\u0000', '\\uFFFF', '\\x41', '\\')
    .map(
      (escape) =>
        `{"writeKey":"${WRITE_KEY}","items":[{"messageId":"esc${escape}","mapping":"contact","action":"addContactToXmd","payload":{"directoryId":"${target.directoryId}","extRef":"e${escape}"}}]}`,
    ),
  fc.string({ unit: 'binary', maxLength: 200 }),
)

/** Bytes that are not UTF-8 at all. */
const invalidUtf8 = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) => {
  const out = new Uint8Array(bytes.length + 2)
  out.set(bytes, 1)
  out[0] = 0xff
  out[bytes.length + 1] = 0xfe
  return out
})

// ---------------------------------------------------------------------------------------------------

describe('hostile input', () => {
  it(`answers ${RUNS.batch} generated batches with a 2xx or a clear 4xx`, async ({ task }) => {
    await fc.assert(
      fc.asyncProperty(
        batchBody,
        contentType,
        headers,
        rarely(hostileString, 10),
        async (body, type, h, queryKey) => {
          const url = `${relay.url}/v1/batch${queryKey === undefined ? '' : `?writeKey=${pct(queryKey)}`}`
          const text = JSON.stringify(body) ?? 'null'
          const answer = await request(url, { method: 'POST', headers: headerInit(h, type), body: text })
          judge('batch', answer, () => `${type} ${text}`)
        },
      ),
      settings(RUNS.batch, SEED),
    )
    figure(task, 'runs', 'generated batches', RUNS.batch)
    figure(task, 'statuses', 'answers by status', statusText('batch'))
  })

  it(`answers ${RUNS.rawBatch} malformed, polluting, deeply nested or non-UTF-8 bodies with a clear 4xx`, async ({
    task,
  }) => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(rawBody, invalidUtf8), contentType, async (body, type) => {
        const answer = await request(`${relay.url}/v1/batch`, {
          method: 'POST',
          headers: { 'Content-Type': type, Origin: SITE },
          body,
        })
        judge(
          'raw batch',
          answer,
          () => `${type} ${typeof body === 'string' ? body : `${body.length} bytes`}`,
        )
      }),
      settings(RUNS.rawBatch, SEED + 1),
    )
    figure(task, 'runs', 'generated bodies', RUNS.rawBatch)
    figure(task, 'statuses', 'answers by status', statusText('raw batch'))
  })

  it(`answers ${RUNS.settings} generated settings requests with a 2xx, a 304 or a clear 4xx`, async ({
    task,
  }) => {
    const query = fc.oneof(
      hostileString.map((k) => `writeKey=${pct(k)}`),
      fc.constant(`writeKey=${WRITE_KEY}`),
      fc.constant(`writeKey=${WRITE_KEY}&writeKey=${SIGNED_KEY}`),
      printable.map((raw) => raw.replace(/[#\s]/g, '')),
      fc.constantFrom(
        'writeKey=%E0%A4%A',
        'writeKey=%',
        'writeKey=%00',
        'writeKey[]=x',
        'writeKey[a]=b',
        '__proto__=x&writeKey=wk_reliability',
        'writeKey=' + 'a'.repeat(20_000),
      ),
    )
    await fc.assert(
      fc.asyncProperty(query, headers, fc.option(printable, { nil: undefined }), async (q, h, etag) => {
        const init = headerInit(h)
        if (etag !== undefined) init['If-None-Match'] = etag
        const answer = await request(`${relay.url}/v1/settings?${q}`, { headers: init })
        judge('settings', answer, () => q)
      }),
      settings(RUNS.settings, SEED + 2),
    )
    figure(task, 'runs', 'generated requests', RUNS.settings)
    figure(task, 'statuses', 'answers by status', statusText('settings'))
  })

  it(`answers ${RUNS.messages} generated status queries with a 2xx or a clear 4xx`, async ({ task }) => {
    await fc.assert(
      fc.asyncProperty(hostileString, writeKey, async (id, wk) => {
        const path = pct(id || 'x').slice(0, 30_000)
        const answer = await request(`${relay.url}/v1/messages/${path}?writeKey=${pct(String(wk))}`)
        judge('messages', answer, () => path)
      }),
      settings(RUNS.messages, SEED + 3),
    )
    figure(task, 'runs', 'generated requests', RUNS.messages)
    figure(task, 'statuses', 'answers by status', statusText('messages'))
  })

  it(`answers ${RUNS.admin} generated admin requests with a 2xx or a clear 4xx`, async ({ task }) => {
    const auth = fc.oneof(
      { weight: 3, arbitrary: fc.constant(`Bearer ${ADMIN_TOKEN}`) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          `bearer ${ADMIN_TOKEN}`,
          `Bearer ${ADMIN_TOKEN}x`,
          `Bearer  ${ADMIN_TOKEN.slice(1)}`,
          `Basic ${ADMIN_TOKEN}`,
          'Bearer',
          '',
        ),
      },
      { weight: 1, arbitrary: printable.map((t) => `Bearer ${t}`) },
    )
    const adminRequest = fc.oneof(
      fc
        .tuple(fc.option(hostileString, { nil: undefined }), fc.option(hostileString, { nil: undefined }))
        .map(([limit, after]) => {
          const q = new URLSearchParams()
          if (limit !== undefined) q.set('limit', limit)
          if (after !== undefined) q.set('after', after)
          return { method: 'GET', path: `/admin/dead-letters?${q}`, body: undefined as string | undefined }
        }),
      fc
        .oneof(
          fc.record(
            { ids: fc.oneof(fc.array(hostileString, { maxLength: 20 }), anyValue) },
            { requiredKeys: [] },
          ),
          fc
            .integer({ min: 10_001, max: 20_000 })
            .map((n) => ({ ids: Array.from({ length: n }, (_, i) => `id-${i}`) })),
          anyValue,
        )
        .chain((body) =>
          fc.oneof(
            fc.constant(JSON.stringify(body) ?? 'null'),
            fc.nat().map((cut) => (JSON.stringify(body) ?? 'null').slice(0, cut % 50)),
          ),
        )
        .map((body) => ({
          method: 'POST',
          path: '/admin/dead-letters/replay',
          body: body as string | undefined,
        })),
      fc.constant({ method: 'GET', path: '/admin/check', body: undefined as string | undefined }),
    )
    await fc.assert(
      fc.asyncProperty(adminRequest, auth, contentType, async (r, authorization, type) => {
        const init: RequestInit = {
          method: r.method,
          headers: { Authorization: authorization, 'Content-Type': type },
        }
        if (r.body !== undefined) init.body = r.body
        const answer = await request(`${relay.url}${r.path}`, init)
        judge('admin', answer, () => `${r.method} ${r.path} ${r.body ?? ''}`)
      }),
      settings(RUNS.admin, SEED + 4),
    )
    figure(task, 'runs', 'generated requests', RUNS.admin)
    figure(task, 'statuses', 'answers by status', statusText('admin'))
  })

  it(`answers ${RUNS.other} requests to unknown routes and with other methods with a clear 4xx`, async ({
    task,
  }) => {
    const method = fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'POST', 'HEAD')
    const path = fc.oneof(
      fc.constantFrom(
        '/v1/batch',
        '/v1/settings',
        '/admin/dead-letters',
        '/v1',
        '/',
        '/v1/messages/',
        '/..%2f..%2fetc/passwd',
        '/%00',
        '/admin/../v1/batch',
      ),
      fc.string({ maxLength: 40 }).map((s) => `/${pct(s)}`),
    )
    await fc.assert(
      fc.asyncProperty(method, path, headers, async (m, p, h) => {
        const init = headerInit(h, 'application/json')
        if (m === 'OPTIONS') init['Access-Control-Request-Method'] = 'POST'
        const answer = await request(`${relay.url}${p}`, { method: m, headers: init })
        // HEAD answers have no body by definition; their status is judged alone.
        if (m === 'HEAD')
          judge('other', { ...answer, json: { error: { code: 'HEAD', message: '' } } }, () => `${m} ${p}`)
        else judge('other', answer, () => `${m} ${p}`)
      }),
      settings(RUNS.other, SEED + 5),
    )
    figure(task, 'runs', 'generated requests', RUNS.other)
    figure(task, 'statuses', 'answers by status', statusText('other'))
  })

  it('stayed whole: no 5xx, no error logged, no prototype polluted, and it still accepts and delivers a valid batch', async ({
    task,
  }) => {
    const total = [...seen.values()].reduce((n, m) => n + [...m.values()].reduce((a, b) => a + b, 0), 0)
    const fiveXx = [...seen.values()].reduce(
      (n, m) => n + [...m.entries()].filter(([s]) => s >= 500).reduce((a, [, c]) => a + c, 0),
      0,
    )
    const errors = relay.logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 50)
    const internal = [...(await readMetrics(relay.url)).entries()].filter(([k]) =>
      k.includes('INTERNAL_ERROR'),
    )
    figure(task, 'requests', 'generated requests in total (shrinking included)', total)
    figure(task, 'fiveXx', '5xx answers', fiveXx)
    figure(task, 'problems', 'answers breaking the rules', problems.length)
    note(
      task,
      'A request line or headers over 16 KiB are refused by Node’s HTTP parser before the app sees them; the proxy answers them 431 with the same JSON error body (code HEADERS_TOO_LARGE), checked like every other answer.',
    )
    figure(task, 'errorLogs', 'error log lines', errors.length)
    figure(
      task,
      'nodeRefusals',
      'refused by Node’s HTTP parser before the app (431, URL or headers over 16 KiB)',
      nodeRefusals,
    )
    expect(total).toBeGreaterThanOrEqual(10_000)
    expect(problems).toEqual([])
    expect(fiveXx).toBe(0)
    expect(errors).toEqual([])
    expect(internal).toEqual([])
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeysBefore)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(relay.logs.join('').includes(sandbox.token)).toBe(false)

    const items = [contactItem(target, 'after-fuzz-1', 'after-fuzz'), workflowItem(target, 'after-fuzz-2')]
    const answer = await postBatch(relay.url, items)
    expect(answer.status).toBe(202)
    expect(resultsOf(answer).map((r) => r.status)).toEqual(['accepted', 'accepted'])
    for (const id of ['after-fuzz-1', 'after-fuzz-2']) {
      await waitFor(
        `${id} to be delivered`,
        async () => {
          const status = await request(`${relay.url}/v1/messages/${id}?writeKey=${WRITE_KEY}`)
          const states = (status.json as { items?: { state: string }[] } | undefined)?.items ?? []
          return states.length === 1 && states[0]?.state === 'delivered' ? true : undefined
        },
        15_000,
      )
    }
    expect(sandbox.inspect().contacts.filter((c) => c.extRef === 'after-fuzz')).toHaveLength(1)
  })
})

function statusText(family: string): string {
  const byStatus = seen.get(family) ?? new Map<number, number>()
  return [...byStatus.entries()]
    .sort(([a], [b]) => a - b)
    .map(([status, n]) => `${status}: ${n}`)
    .join(', ')
}

describe('per-IP and per-write-key rate limits', () => {
  let perIp: InProcessRelay
  let perKey: InProcessRelay
  beforeAll(async () => {
    const start = (rateLimits: Record<string, unknown>) =>
      startRelay({ config: relayConfig(target, { rateLimits }), token: sandbox.token, baseUrl: sandbox.url })
    perIp = await start({ perIp: { perMinute: 60, burst: 5 }, perWriteKey: false })
    perKey = await start({ perIp: false, perWriteKey: { perMinute: 60, burst: 3 } })
  })
  afterAll(async () => {
    await perIp?.close()
    await perKey?.close()
  })

  it('answers 429 with Retry-After past the per-IP bucket, whatever X-Forwarded-For says', async ({
    task,
  }) => {
    const statuses: number[] = []
    let last: Answer | undefined
    for (let i = 0; i < 8; i++) {
      last = await request(`${perIp.url}/v1/settings?writeKey=${WRITE_KEY}`, {
        headers: { 'X-Forwarded-For': `203.0.113.${i}` },
      })
      statuses.push(last.status)
    }
    figure(
      task,
      'statuses',
      'answers to 8 quick requests (burst 5, spoofed X-Forwarded-For)',
      statuses.join(' '),
    )
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429])
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(last?.json).toMatchObject({ error: { code: 'RATE_LIMITED', message: expect.any(String) } })
  })

  it('answers 429 with Retry-After past the per-write-key bucket, and keeps nothing of the refused batches', async ({
    task,
  }) => {
    const statuses: number[] = []
    let last: Answer | undefined
    for (let i = 0; i < 5; i++) {
      last = await postBatch(perKey.url, [contactItem(target, `rl-${i}`, `rl-${i}`)])
      statuses.push(last.status)
    }
    figure(task, 'statuses', 'answers to 5 quick batches (burst 3)', statuses.join(' '))
    expect(statuses).toEqual([202, 202, 202, 429, 429])
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(last?.json).toMatchObject({ error: { code: 'RATE_LIMITED', message: expect.any(String) } })
    expect(await perKey.proxy.engine.status('rl-3')).toEqual([])
    expect(await perKey.proxy.engine.status('rl-4')).toEqual([])
  })
})
