import { describe, expect, it } from 'vitest'
import { call, dir, rawRequest, setupSandbox } from './support'

const fixture = setupSandbox()

describe('the Qualtrics envelope', () => {
  it('wraps results as {result, meta: {httpStatus, requestId}} with Content-Type application/json', async () => {
    const reply = await call(fixture.sb, 'GET', '/API/v3/whoami')
    expect(reply.status).toBe(200)
    expect(reply.headers.get('content-type')).toBe('application/json')
    expect(reply.json.meta.httpStatus).toBe('200 - OK')
    expect(reply.json.meta.requestId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    )
    expect(Object.keys(reply.json)).toEqual(['result', 'meta'])
  })

  it('answers errors as {meta: {httpStatus, error: {errorMessage, errorCode}, requestId}} without result', async () => {
    const reply = await call(fixture.sb, 'GET', '/API/v3/doesnotexist')
    expect(reply.status).toBe(404)
    expect(reply.headers.get('content-type')).toBe('application/json')
    expect(reply.json).toEqual({
      meta: {
        httpStatus: '404 - Not Found',
        error: { errorMessage: 'API call does not exist: GET /API/v3/doesnotexist', errorCode: 'NOT_FOUND' },
        requestId: expect.any(String),
      },
    })
  })

  it('answers 404 for a known path with a method it does not serve', async () => {
    const reply = await call(fixture.sb, 'DELETE', dir(fixture.sb, '/contacts'))
    expect(reply.status).toBe(404)
    expect(reply.json.meta.error.errorMessage).toBe(
      `API call does not exist: DELETE ${dir(fixture.sb, '/contacts')}`,
    )
  })

  it('answers 400 INVALID_JSON for a body that is not JSON', async () => {
    const reply = await call(fixture.sb, 'POST', dir(fixture.sb, '/contacts'), { rawBody: '{"firstName": ' })
    expect(reply.status).toBe(400)
    expect(reply.json.meta.httpStatus).toBe('400 - Bad Request')
    expect(reply.json.meta.error).toEqual({
      errorCode: 'INVALID_JSON',
      errorMessage: 'Request body is not valid JSON (Received: 14 bytes)',
    })
  })

  it('answers 413 for a REST body over the size cap', async () => {
    fixture.sb.setBehaviour({ maxBodyBytes: 100 })
    const reply = await call(fixture.sb, 'POST', dir(fixture.sb, '/contacts'), {
      body: { firstName: 'x'.repeat(200) },
    })
    expect(reply.status).toBe(413)
    expect(reply.json.meta.error.errorCode).toBe('PAYLOAD_TOO_LARGE')
  })

  it('gives every answer its own requestId', async () => {
    const a = await call(fixture.sb, 'GET', '/API/v3/whoami')
    const b = await call(fixture.sb, 'GET', '/API/v3/whoami')
    expect(a.json.meta.requestId).not.toBe(b.json.meta.requestId)
  })
})

describe('X-API-TOKEN authentication', () => {
  it('answers 401 when the token is missing', async () => {
    const reply = await call(fixture.sb, 'GET', '/API/v3/whoami', { token: null })
    expect(reply.status).toBe(401)
    expect(reply.json.meta.httpStatus).toBe('401 - Unauthorized')
    expect(reply.json.meta.error).toEqual({
      errorCode: 'UNAUTHORIZED',
      errorMessage: 'Missing X-API-TOKEN header.',
    })
  })

  it('answers 401 when the token is unknown', async () => {
    const reply = await call(fixture.sb, 'GET', dir(fixture.sb, '/contacts'), {
      token: 'not-a-real-token-0000',
    })
    expect(reply.status).toBe(401)
    expect(reply.json.meta.error).toEqual({
      errorCode: 'UNAUTHORIZED',
      errorMessage: 'Unrecognized X-API-TOKEN.',
    })
  })

  it.each(['X-API-TOKEN', 'x-api-token', 'X-Api-Token'])('accepts the header spelled %s', async (name) => {
    const reply = await rawRequest(fixture.sb, 'GET', '/API/v3/whoami', { [name]: fixture.sb.token })
    expect(reply.status).toBe(200)
  })

  it('accepts the token as an OAuth-style Bearer token', async () => {
    const reply = await call(fixture.sb, 'GET', '/API/v3/whoami', {
      token: null,
      headers: { Authorization: `Bearer ${fixture.sb.token}` },
    })
    expect(reply.status).toBe(200)
  })

  it('does not authenticate the request before finding the route', async () => {
    const reply = await call(fixture.sb, 'GET', '/API/v3/nothing-here', { token: null })
    expect(reply.status).toBe(404)
  })
})

describe('GET /API/v3/whoami', () => {
  it('returns the user behind the token', async () => {
    const reply = await call(fixture.sb, 'GET', '/API/v3/whoami')
    expect(reply.json.result).toEqual({
      brandId: 'sandbox',
      userId: expect.stringMatching(/^UR_[A-Za-z0-9]{15}$/),
      userName: 'sandbox.user@example.com#sandbox',
      accountType: 'UT_BRANDADMIN',
      firstName: 'Sandbox',
      lastName: 'User',
      email: 'sandbox.user@example.com',
      datacenter: 'sbx1',
    })
  })

  it('returns the seeded user of each token', async () => {
    fixture.sb.reset({
      users: [{ token: 'token-of-ada-123', firstName: 'Ada', email: 'ada@example.com', brandId: 'acme' }],
    })
    const reply = await call(fixture.sb, 'GET', '/API/v3/whoami', { token: 'token-of-ada-123' })
    expect(reply.json.result).toMatchObject({
      firstName: 'Ada',
      userName: 'ada@example.com#acme',
      brandId: 'acme',
    })
  })
})

describe('GET /API/v3/directories', () => {
  it.each(['/API/v3/directories', '/API/v3/directories/'])(
    'lists directories at %s with dedup criteria from the merge rules',
    async (path) => {
      const reply = await call(fixture.sb, 'GET', path)
      expect(reply.status).toBe(200)
      expect(reply.json.result).toEqual({
        elements: [
          {
            directoryId: fixture.sb.directoryId,
            name: 'Sandbox Directory',
            contactCount: 0,
            isDefault: true,
            deduplicationCriteria: {
              email: true,
              firstName: false,
              lastName: false,
              externalDataReference: true,
              phone: false,
            },
          },
        ],
        nextPage: null,
      })
    },
  )

  it('pages directories with pageSize and nextPage', async () => {
    fixture.sb.reset({ directories: [{ name: 'A' }, { name: 'B' }, { name: 'C' }] })
    const first = await call(fixture.sb, 'GET', '/API/v3/directories?pageSize=2')
    expect(first.json.result.elements.map((d: { name: string }) => d.name)).toEqual(['A', 'B'])
    expect(first.json.result.nextPage).toBe(
      `${fixture.sb.url}/API/v3/directories?pageSize=2&skipToken=Mg%3D%3D`,
    )
    const second = await call(fixture.sb, 'GET', first.json.result.nextPage)
    expect(second.json.result.elements.map((d: { name: string }) => d.name)).toEqual(['C'])
    expect(second.json.result.nextPage).toBeNull()
  })
})

describe('datacenter in the Host header', () => {
  const host = { Host: 'iad1.qualtrics.com' }

  it('serves a request for another datacenter with the "Request proxied" notice by default', async () => {
    const reply = await rawRequest(fixture.sb, 'GET', '/API/v3/whoami', {
      ...host,
      'X-API-TOKEN': fixture.sb.token,
    })
    expect(reply.status).toBe(200)
    expect(reply.json.meta.notice).toBe(
      'Request proxied. For faster response times, use this host instead: sbx1.qualtrics.com',
    )
  })

  it('adds no notice for its own datacenter, also behind a brand prefix', async () => {
    const reply = await rawRequest(fixture.sb, 'GET', '/API/v3/whoami', {
      Host: 'acme.sbx1.qualtrics.com',
      'X-API-TOKEN': fixture.sb.token,
    })
    expect(reply.status).toBe(200)
    expect(reply.json.meta.notice).toBeUndefined()
  })

  it('rejects another datacenter with 401 DCD_7 when told to', async () => {
    fixture.sb.setBehaviour({ wrongDatacenter: 'reject' })
    const reply = await rawRequest(fixture.sb, 'GET', '/API/v3/whoami', {
      ...host,
      'X-API-TOKEN': fixture.sb.token,
    })
    expect(reply.status).toBe(401)
    expect(reply.json.meta.error).toEqual({ errorCode: 'DCD_7', errorMessage: 'Unrecognized X-API-TOKEN.' })
  })

  it('ignores the datacenter when told to', async () => {
    fixture.sb.setBehaviour({ wrongDatacenter: 'ignore' })
    const reply = await rawRequest(fixture.sb, 'GET', '/API/v3/whoami', {
      ...host,
      'X-API-TOKEN': fixture.sb.token,
    })
    expect(reply.json.meta.notice).toBeUndefined()
  })

  it('builds nextPage links on the https Qualtrics host the client used', async () => {
    fixture.sb.reset({ directories: [{ name: 'A' }, { name: 'B' }] })
    const reply = await rawRequest(fixture.sb, 'GET', '/API/v3/directories?pageSize=1', {
      Host: 'sbx1.qualtrics.com',
      'X-API-TOKEN': fixture.sb.token,
    })
    expect(reply.json.result.nextPage).toBe(
      'https://sbx1.qualtrics.com/API/v3/directories?pageSize=1&skipToken=MQ%3D%3D',
    )
  })
})
