import { describe, expect, it } from 'vitest'
import { call, setupSandbox } from './support'

const fixture = setupSandbox({
  seed: {
    users: [{ token: 'sandbox-token-0001', email: 'jane@example.com', brandId: 'acme' }],
    workflows: [
      { urlTokenId: '93b4c9ad-94ae-42f8-a8fc-dc3c3b76dcb0', name: 'Needs auth', auth: 'token' },
      {
        urlTokenId: '0a1b2c3d-0000-4000-8000-000000000001',
        name: 'Open',
        auth: 'none',
        triggerId: 'OC_legacy000000001',
      },
    ],
  },
})

const AUTH_URL = '/inbound-event/v1/events/json/triggers?urlTokenId=93b4c9ad-94ae-42f8-a8fc-dc3c3b76dcb0'
const OPEN_URL = '/inbound-event/v1/events/json/triggers?urlTokenId=0a1b2c3d-0000-4000-8000-000000000001'

describe('POST /inbound-event/v1/events/json/triggers', () => {
  it('accepts a JSON event with 202 and records the run', async () => {
    const reply = await call(fixture.sb, 'POST', AUTH_URL, {
      body: { event: 'Order Completed', traits: { firstName: 'Jane' } },
    })
    expect(reply.status).toBe(202)
    expect(reply.headers.get('content-type')).toBe('application/json')
    expect(reply.json).toEqual({
      result: { runId: expect.any(String) },
      meta: { httpStatus: '202 - Accepted', requestId: expect.any(String) },
    })
    expect(fixture.sb.inspect().workflowRuns).toEqual([
      {
        id: reply.json.result.runId,
        urlTokenId: '93b4c9ad-94ae-42f8-a8fc-dc3c3b76dcb0',
        workflowName: 'Needs auth',
        receivedAt: expect.any(String),
        auth: 'token',
        query: { urlTokenId: '93b4c9ad-94ae-42f8-a8fc-dc3c3b76dcb0' },
        payload: { event: 'Order Completed', traits: { firstName: 'Jane' } },
        requestId: reply.json.meta.requestId,
      },
    ])
  })

  it('answers 200 instead when configured', async () => {
    fixture.sb.setBehaviour({ workflowStatus: 200 })
    const reply = await call(fixture.sb, 'POST', AUTH_URL, { body: {} })
    expect(reply.status).toBe(200)
    expect(reply.json.meta.httpStatus).toBe('200 - OK')
  })

  it('matches the json path segment case-insensitively (legacy URLs say JSON)', async () => {
    const reply = await call(fixture.sb, 'POST', AUTH_URL.replace('/json/', '/JSON/'), { body: { a: 1 } })
    expect(reply.status).toBe(202)
  })

  it('finds a workflow by the legacy triggerId query and keeps extra query parameters such as force_isolation', async () => {
    const reply = await call(
      fixture.sb,
      'POST',
      '/inbound-event/v1/events/JSON/triggers?contextId=SV_x&userId=UR_x&brandId=acme&triggerId=OC_legacy000000001&force_isolation=true',
      {
        token: null,
        body: { a: 1 },
      },
    )
    expect(reply.status).toBe(202)
    expect(fixture.sb.inspect().workflowRuns[0]).toMatchObject({
      workflowName: 'Open',
      auth: 'none',
      query: { force_isolation: 'true', triggerId: 'OC_legacy000000001' },
    })
  })

  it('accepts Basic auth with userName:token', async () => {
    const basic = Buffer.from('jane@example.com#acme:sandbox-token-0001').toString('base64')
    const reply = await call(fixture.sb, 'POST', AUTH_URL, {
      token: null,
      headers: { Authorization: `Basic ${basic}` },
      body: {},
    })
    expect(reply.status).toBe(202)
    expect(fixture.sb.inspect().workflowRuns[0]?.auth).toBe('basic')
  })

  it.each([
    ['no credentials', {}],
    ['an unknown token', { 'X-API-TOKEN': 'unknown-token-000' }],
    [
      'Basic auth with the wrong user name',
      { Authorization: `Basic ${Buffer.from('someone:sandbox-token-0001').toString('base64')}` },
    ],
    [
      'Basic auth without a colon',
      { Authorization: `Basic ${Buffer.from('sandbox-token-0001').toString('base64')}` },
    ],
  ])('answers 401 for %s on a trigger that requires auth', async (_name, headers) => {
    const reply = await call(fixture.sb, 'POST', AUTH_URL, { token: null, headers, body: {} })
    expect(reply.status).toBe(401)
    expect(reply.json.meta.error).toEqual({
      errorCode: 'UNAUTHORIZED',
      errorMessage:
        'This workflow trigger requires an X-API-TOKEN header or Basic authentication with userName:token.',
    })
    expect(fixture.sb.inspect().workflowRuns).toHaveLength(0)
  })

  it('lets anyone post to a trigger without auth', async () => {
    const reply = await call(fixture.sb, 'POST', OPEN_URL, { token: null, body: {} })
    expect(reply.status).toBe(202)
  })

  it('takes an empty body as {} (Segment sends none for an empty payload)', async () => {
    const reply = await call(fixture.sb, 'POST', OPEN_URL, {
      rawBody: '',
      headers: { 'Content-Type': 'application/json' },
    })
    expect(reply.status).toBe(202)
    expect(fixture.sb.inspect().workflowRuns[0]?.payload).toEqual({})
  })

  it('answers 404 for an unknown urlTokenId and 400 without one', async () => {
    const unknown = await call(
      fixture.sb,
      'POST',
      '/inbound-event/v1/events/json/triggers?urlTokenId=00000000-0000-4000-8000-000000000000',
      { body: {} },
    )
    expect(unknown.status).toBe(404)
    expect(unknown.json.meta.error.errorMessage).toBe(
      'Workflow trigger not found (Received: "00000000-0000-4000-8000-000000000000")',
    )
    const missing = await call(fixture.sb, 'POST', '/inbound-event/v1/events/json/triggers', { body: {} })
    expect(missing.status).toBe(400)
  })

  it('answers 413 over 100 KB and accepts exactly 100 KB', async () => {
    const body = (size: number): string => JSON.stringify({ pad: 'x'.repeat(size - 10) })
    expect(body(102_400).length).toBe(102_400)
    const atLimit = await call(fixture.sb, 'POST', OPEN_URL, { rawBody: body(102_400) })
    expect(atLimit.status).toBe(202)
    const over = await call(fixture.sb, 'POST', OPEN_URL, { rawBody: body(102_401) })
    expect(over.status).toBe(413)
    expect(over.json.meta.error).toEqual({
      errorCode: 'PAYLOAD_TOO_LARGE',
      errorMessage: 'Request body must be at most 102400 bytes (Received: 102401 bytes)',
    })
  })

  it.each([
    ['invalid JSON', '{oops', 'INVALID_JSON'],
    ['a JSON array', '[1,2]', 'INVALID_PARAMETER'],
    ['a JSON string', '"hello"', 'INVALID_PARAMETER'],
  ])('answers 400 for %s', async (_name, rawBody, code) => {
    const reply = await call(fixture.sb, 'POST', OPEN_URL, { rawBody })
    expect(reply.status).toBe(400)
    expect(reply.json.meta.error.errorCode).toBe(code)
  })

  it('gives the default sandbox a ready workflowUrl', async () => {
    fixture.sb.reset({})
    expect(fixture.sb.workflowUrl).toMatch(
      new RegExp(`^${fixture.sb.url}/inbound-event/v1/events/json/triggers\\?urlTokenId=[0-9a-f-]{36}$`),
    )
    const reply = await call(fixture.sb, 'POST', fixture.sb.workflowUrl, { body: { hello: 'world' } })
    expect(reply.status).toBe(202)
  })
})
