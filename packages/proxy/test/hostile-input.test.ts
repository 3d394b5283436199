// Generated hostile bodies and queries against the real server: every one is answered with a 2xx or a
// 4xx carrying a JSON error, never a 5xx, and the server still works afterwards.
import { connect } from 'node:net'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { contactItem, postBatch, request, SITE, startHarness, type Harness } from './helpers'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h.close()
})

const keyish = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'writeKey', 'items', 'payload', 'identity'),
  fc.string({ maxLength: 12 }),
)
const deep = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth)

function expectClearAnswer(status: number, json: unknown): void {
  expect(status).toBeLessThan(500)
  if (status >= 400) {
    expect(json).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } })
  }
}

describe('hostile input', () => {
  it('answers generated batch bodies with 2xx or a clear 4xx', async () => {
    const item = fc.record(
      {
        messageId: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        mapping: fc.oneof(fc.constantFrom('contact', 'purchase', 'feedback'), fc.string()),
        action: fc.oneof(
          fc.constantFrom('addContactToXmd', 'upsertContactTransaction', 'triggerXflowWorkflow'),
          fc.string(),
        ),
        payload: fc.oneof(
          fc.dictionary(
            fc.oneof(
              keyish,
              fc.constantFrom(
                'directoryId',
                'mailingListId',
                'extRef',
                'workflowUrl',
                'transactionData',
                'eventPayload',
              ),
            ),
            fc.jsonValue({ maxDepth: 4 }),
          ),
          fc.jsonValue({ maxDepth: 2 }),
        ),
        identity: fc.oneof(
          fc.constant(undefined),
          fc.record({ userId: fc.string(), signature: fc.string() }),
        ),
      },
      { requiredKeys: [] },
    )
    const body = fc.oneof(
      fc.record(
        { writeKey: fc.oneof(fc.constant('wk_test'), fc.string()), items: fc.array(item, { maxLength: 5 }) },
        { requiredKeys: [] },
      ),
      fc.dictionary(keyish, fc.jsonValue({ maxDepth: 3 })).map((o) => ({ writeKey: 'wk_test', ...o })),
      fc.jsonValue({ maxDepth: 3 }),
    )
    await fc.assert(
      fc.asyncProperty(
        body,
        fc.constantFrom('application/json', 'text/plain', 'application/json; charset=utf-8'),
        async (b, type) => {
          const answer = await postBatch(h.url, JSON.stringify(b) ?? 'null', { 'Content-Type': type })
          expectClearAnswer(answer.status, answer.json)
        },
      ),
      { numRuns: 300 },
    )
  })

  it.each([
    ['deeply nested JSON', deep(50_000)],
    [
      'a deeply nested payload',
      `{"writeKey":"wk_test","items":[{"messageId":"m","mapping":"purchase","action":"upsertContactTransaction","payload":{"transactionData":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}}]}`,
    ],
    [
      'a deeply nested workflow payload',
      `{"writeKey":"wk_test","items":[{"messageId":"m","mapping":"feedback","action":"triggerXflowWorkflow","payload":{"eventPayload":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}}]}`,
    ],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
    ['an empty body', ''],
    ['a lone string', '"wk_test"'],
  ])('answers %s with a clear 4xx', async (_name, raw) => {
    const answer = await request(`${h.url}/v1/batch`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: SITE },
      body: raw,
    })
    expectClearAnswer(answer.status, answer.json)
    expect(answer.status).toBeGreaterThanOrEqual(400)
  })

  it('answers generated settings and status queries with 2xx or a clear 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string(), fc.string(), async (writeKey, id) => {
        const settings = await request(
          `${h.url}/v1/settings?writeKey=${encodeURIComponent(writeKey)}&writeKey=wk_test`,
        )
        expectClearAnswer(settings.status, settings.json)
        const status = await request(
          `${h.url}/v1/messages/${encodeURIComponent(id || 'x')}?writeKey=${encodeURIComponent(writeKey)}`,
        )
        expectClearAnswer(status.status, status.json)
        const admin = await request(`${h.url}/admin/dead-letters?limit=${encodeURIComponent(id)}`, {
          headers: { Authorization: `Bearer ${writeKey}` },
        })
        expectClearAnswer(admin.status, admin.json)
      }),
      { numRuns: 100 },
    )
    expect((await request(`${h.url}/v1/messages/%E0%A4%A?writeKey=wk_test`)).status).toBe(400)
  })

  it('answers what the HTTP parser refuses with the same JSON error body', async () => {
    const huge = await request(`${h.url}/v1/settings?writeKey=wk_test`, {
      headers: { 'X-Pad': 'x'.repeat(20_000) },
    })
    expect(huge.status).toBe(431)
    expect(huge.json).toEqual({
      error: { code: 'HEADERS_TOO_LARGE', message: 'The request line and headers must be at most 16 KiB' },
    })
    const { port } = new URL(h.url)
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'))
      let text = ''
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()))
      socket.on('end', () => resolve(text))
      socket.on('error', reject)
    })
    expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request')
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toMatchObject({
      error: { code: 'BAD_REQUEST' },
    })
  })

  it('refuses a messageId with a lone surrogate, which would collide with its U+FFFD spelling', async () => {
    const lone = await postBatch(h.url, {
      writeKey: 'wk_test',
      items: [contactItem(h.sandbox, 'surrogate-\ud800'), contactItem(h.sandbox, 'surrogate-\udc00')],
    })
    expect(lone.status).toBe(400)
    expect(lone.json).toMatchObject({ error: { code: 'PAYLOAD_INVALID' } })
    expect((lone.json as { error: { issues: unknown[] } }).error.issues).toMatchInlineSnapshot(`
      [
        {
          "message": "must be well-formed Unicode: it holds a lone surrogate (Received: "surrogate-\\ud800")",
          "path": "items.0.messageId",
        },
        {
          "message": "must be well-formed Unicode: it holds a lone surrogate (Received: "surrogate-\\udc00")",
          "path": "items.1.messageId",
        },
      ]
    `)
    const replaced = await postBatch(h.url, {
      writeKey: 'wk_test',
      items: [contactItem(h.sandbox, 'surrogate-\ufffd')],
    })
    expect((replaced.json as { results: { status: string }[] }).results[0]?.status).toBe('accepted')
  })

  it('still accepts a good batch afterwards', async () => {
    const answer = await postBatch(h.url, { writeKey: 'wk_test', items: [contactItem(h.sandbox)] })
    expect(answer.status).toBe(202)
  })
})
