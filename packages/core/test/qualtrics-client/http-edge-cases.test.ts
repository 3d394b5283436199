// Answers the sandbox does not give (or not easily): redirects, HTML gateway pages, Retry-After dates,
// echoed tokens, the other spellings of contact fields, odd pagination, bodies that never end. A tiny
// node:http server on port 0 plays Qualtrics here; everything else runs against the sandbox.

import type { ServerResponse } from 'node:http'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { PayloadValidationError } from '../../src/errors'
import {
  HostNotAllowedError,
  QualtricsApiError,
  QualtricsResponseError,
  TimeoutError,
  createQualtricsClient,
  type QualtricsClientOptions,
} from '../../src/server/qualtrics'
import {
  json,
  memoryLogger,
  recordingFetch,
  rejectionOf,
  startTestServer,
  type SeenRequest,
  type TestServer,
} from './helpers'

const TOKEN = 'tok_EdgeCaseSecret_7f3a'
const META = { httpStatus: '200 - OK', requestId: 'req-1' }

let server: TestServer
let other: TestServer
let answer: (req: SeenRequest, res: ServerResponse) => void

beforeAll(async () => {
  server = await startTestServer((req, res) => answer(req, res))
  other = await startTestServer((_req, res) => json(res, 200, { result: { elements: [] }, meta: META }))
})
afterAll(async () => {
  await server.close()
  await other.close()
})
beforeEach(() => {
  server.requests.length = 0
  other.requests.length = 0
  answer = (_req, res) => json(res, 500, { meta: { httpStatus: '500 - Internal Server Error' } })
})

function client(extra: Partial<QualtricsClientOptions> = {}) {
  return createQualtricsClient({ apiToken: TOKEN, baseUrl: server.url, ...extra })
}

describe('requests', () => {
  it('sends JSON with the token, Accept and User-Agent, and percent-encodes path segments', async () => {
    answer = (_req, res) => json(res, 200, { result: { id: 'CID_1' }, meta: META })
    await expect(
      client({ userAgent: 'relay-test/1' }).createDirectoryContact('POOL/x y?', { email: 'a@example.com' }),
    ).resolves.toEqual({ id: 'CID_1' })
    const [req] = server.requests
    expect(req?.method).toBe('POST')
    expect(req?.url).toBe('/API/v3/directories/POOL%2Fx%20y%3F/contacts')
    expect(req?.headers).toMatchObject({
      'x-api-token': TOKEN,
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': 'relay-test/1',
    })
    expect(JSON.parse(req?.body ?? '')).toEqual({ email: 'a@example.com' })
  })

  it('keeps a baseUrl path prefix', async () => {
    answer = (_req, res) =>
      json(res, 200, { result: { userId: 'UR_1', userName: 'u#b', brandId: 'b' }, meta: META })
    await client({ baseUrl: `${server.url}/prefix/` }).whoami()
    expect(server.requests[0]?.url).toBe('/prefix/API/v3/whoami')
  })

  it.each(['', '.', '..'])('refuses the path segment %j without a request', async (id) => {
    const error = await rejectionOf(client().getDirectoryContact('POOL_1', id))
    expect(error).toBeInstanceOf(PayloadValidationError)
    expect(error.message).toContain('contactId must be a non-empty id')
    expect(server.requests).toHaveLength(0)
  })

  it('reads globalThis.fetch when a request is made, not when the client is created', async () => {
    answer = (_req, res) =>
      json(res, 200, { result: { userId: 'UR_1', userName: 'u#b', brandId: 'b' }, meta: META })
    const c = client()
    const original = globalThis.fetch
    const recorder = recordingFetch()
    globalThis.fetch = (input, init) => recorder.fetch(input, init)
    try {
      await c.whoami()
    } finally {
      globalThis.fetch = original
    }
    expect(recorder.urls).toEqual([`${server.url}/API/v3/whoami`])
  })

  it('rejects a body JSON cannot carry with a PayloadValidationError, without a request', async () => {
    const error = await rejectionOf(
      client().createDirectoryContact('POOL_1', { embeddedData: { n: 1n as unknown as number } }),
    )
    expect(error).toBeInstanceOf(PayloadValidationError)
    expect(server.requests).toHaveLength(0)
  })

  it('refuses a workflow payload over 100 KB without a request', async () => {
    const error = await rejectionOf(
      client().triggerWorkflow(`${server.url}/inbound-event/x`, { big: 'x'.repeat(100 * 1024) }),
    )
    expect(error).toBeInstanceOf(PayloadValidationError)
    expect(server.requests).toHaveLength(0)
  })
})

describe('contacts in either spelling', () => {
  it('maps contactId / externalDataReference / phoneNumber, and drops nulls', async () => {
    answer = (_req, res) =>
      json(res, 200, {
        result: {
          elements: [
            {
              contactId: 'CID_A',
              externalDataReference: 'u-1',
              phoneNumber: '555',
              email: 'a@example.com',
              firstName: null,
              unsubscribed: false,
              embeddedData: { plan: 'pro', seats: 3, vip: true, gone: null },
              lastModified: '2024-01-02T03:04:05Z',
            },
            { id: 'CID_B', extRef: 'u-2', phone: '777', creationDate: 1700000000000 },
          ],
          nextPage: null,
        },
        meta: META,
      })
    const result = await client().searchDirectoryContacts('POOL_1', {
      filterType: 'extRef',
      comparison: 'eq',
      value: 'u-1',
    })
    expect(result).toEqual({
      contacts: [
        {
          id: 'CID_A',
          extRef: 'u-1',
          phone: '555',
          email: 'a@example.com',
          unsubscribed: false,
          embeddedData: { plan: 'pro', seats: 3, vip: true },
          lastModified: '2024-01-02T03:04:05Z',
        },
        { id: 'CID_B', extRef: 'u-2', phone: '777', creationDate: '2023-11-14T22:13:20.000Z' },
      ],
    })
  })

  it('rejects an element without any id as a bad response', async () => {
    answer = (_req, res) => json(res, 200, { result: { elements: [{ email: 'a@example.com' }] }, meta: META })
    const error = await rejectionOf(
      client().searchDirectoryContacts('POOL_1', { filterType: 'email', comparison: 'eq', value: 'a' }),
    )
    expect(error).toBeInstanceOf(QualtricsResponseError)
    expect(error.message).toMatchInlineSnapshot(
      `"Qualtrics answered 200 to POST /API/v3/directories/POOL_1/contacts/search with an unusable response: result.elements.0.id must be a non-empty string (or contactId) (Received: undefined) (requestId req-1)"`,
    )
  })
})

describe('search pagination', () => {
  const filter = { filterType: 'email', comparison: 'eq', value: 'a@example.com' } as const

  it('sends pageSize and skipToken, and returns the skipToken of result.nextPage', async () => {
    answer = (req, res) =>
      json(res, 200, {
        result: {
          elements: [],
          nextPage: `${server.url}${req.url?.split('?')[0]}?pageSize=5&skipToken=MTA%3D`,
        },
        meta: META,
      })
    const result = await client().searchDirectoryContacts('POOL_1', filter, {
      pageSize: 5,
      skipToken: 'NQ==',
    })
    expect(result).toEqual({ contacts: [], skipToken: 'MTA=' })
    expect(server.requests[0]?.url).toBe(
      '/API/v3/directories/POOL_1/contacts/search?pageSize=5&skipToken=NQ%3D%3D',
    )
    expect(JSON.parse(server.requests[0]?.body ?? '')).toEqual({ filter })
  })

  it('returns a skipToken given as a field', async () => {
    answer = (_req, res) => json(res, 200, { result: { elements: [], skipToken: 'NQ==' }, meta: META })
    await expect(client().searchDirectoryContacts('POOL_1', filter)).resolves.toEqual({
      contacts: [],
      skipToken: 'NQ==',
    })
  })

  it('treats a nextPage link without a skipToken as a bad response', async () => {
    answer = (_req, res) =>
      json(res, 200, { result: { elements: [], nextPage: '/next?offset=5' }, meta: META })
    const error = await rejectionOf(client().searchDirectoryContacts('POOL_1', filter))
    expect(error).toMatchObject({ code: 'QUALTRICS_BAD_RESPONSE', kind: 'bad-shape' })
  })

  it.each([0, -1, 2.5])('refuses pageSize %j without a request', async (pageSize) => {
    await expect(client().searchDirectoryContacts('POOL_1', filter, { pageSize })).rejects.toThrow(
      PayloadValidationError,
    )
    expect(server.requests).toHaveLength(0)
  })
})

describe('listDirectories pagination', () => {
  const directory = (n: number) => ({
    directoryId: `POOL_${n}`,
    name: `Dir ${n}`,
    contactCount: n,
    isDefault: n === 1,
  })

  it('follows nextPage links (absolute and relative) to the last page', async () => {
    answer = (req, res) => {
      const page = new URL(req.url ?? '/', server.url).searchParams.get('skipToken')
      if (page === null)
        json(res, 200, {
          result: { elements: [directory(1)], nextPage: `${server.url}/API/v3/directories?skipToken=p2` },
          meta: META,
        })
      else if (page === 'p2')
        json(res, 200, {
          result: { elements: [directory(2)], nextPage: '/API/v3/directories?skipToken=p3' },
          meta: META,
        })
      else json(res, 200, { result: { elements: [directory(3)], nextPage: null }, meta: META })
    }
    await expect(client().listDirectories()).resolves.toEqual([directory(1), directory(2), directory(3)])
    expect(server.requests.map((r) => r.url)).toEqual([
      '/API/v3/directories',
      '/API/v3/directories?skipToken=p2',
      '/API/v3/directories?skipToken=p3',
    ])
  })

  it('stops on a nextPage that points to a page already read', async () => {
    answer = (_req, res) =>
      json(res, 200, { result: { elements: [], nextPage: `${server.url}/API/v3/directories` }, meta: META })
    const error = await rejectionOf(client().listDirectories())
    expect(error).toBeInstanceOf(QualtricsResponseError)
    expect(error.message).toContain('points to a page already read')
  })

  it('refuses to follow a nextPage link to another host', async () => {
    answer = (_req, res) =>
      json(res, 200, {
        result: { elements: [], nextPage: `${other.url}/API/v3/directories?skipToken=x` },
        meta: META,
      })
    const error = await rejectionOf(client().listDirectories())
    expect(error).toBeInstanceOf(HostNotAllowedError)
    expect(other.requests).toHaveLength(0)
  })
})

describe('answers that are not errors and not results', () => {
  it('does not follow a redirect, even to an allowed-looking place', async () => {
    answer = (_req, res) => {
      res.writeHead(302, { Location: `${other.url}/API/v3/whoami` })
      res.end()
    }
    const error = await rejectionOf(client().whoami())
    expect(error).toBeInstanceOf(QualtricsResponseError)
    expect(error).toMatchObject({ kind: 'redirect', retryable: false, status: 302 })
    expect(error.message.replace(other.url, 'http://other.test')).toMatchInlineSnapshot(
      `"Qualtrics answered 302 to GET /API/v3/whoami with an unusable response: a redirect to http://other.test; redirects are not followed"`,
    )
    expect(other.requests).toHaveLength(0)
  })

  it('accepts an empty 204 and a meta-only 200 for an update', async () => {
    answer = (_req, res) => {
      res.writeHead(204)
      res.end()
    }
    await expect(
      client().updateDirectoryContact('POOL_1', 'CID_1', { firstName: 'A' }),
    ).resolves.toBeUndefined()
    answer = (_req, res) => json(res, 200, { meta: META })
    await expect(
      client().updateDirectoryContact('POOL_1', 'CID_1', { firstName: 'A' }),
    ).resolves.toBeUndefined()
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'PUT /API/v3/directories/POOL_1/contacts/CID_1',
      'PUT /API/v3/directories/POOL_1/contacts/CID_1',
    ])
  })

  it('reports a result of the wrong shape with the field and the received value', async () => {
    answer = (_req, res) =>
      json(res, 200, { result: { userId: 'UR_1', brandId: 'b', userName: 42 }, meta: META })
    const error = await rejectionOf(client().whoami())
    expect(error).toMatchObject({ code: 'QUALTRICS_BAD_RESPONSE', kind: 'bad-shape', retryable: true })
    expect(error.message).toMatchInlineSnapshot(
      `"Qualtrics answered 200 to GET /API/v3/whoami with an unusable response: result.userName must be a non-empty string (Received: 42) (requestId req-1)"`,
    )
  })

  it('reads a 502 gateway page without dumping it', async () => {
    answer = (_req, res) => {
      res.writeHead(502, { 'Content-Type': 'text/html' })
      res.end(
        `<html><head><title>502 Bad Gateway</title></head><body>${'padding '.repeat(200)}</body></html>`,
      )
    }
    const error = await rejectionOf(client().whoami())
    expect(error).toBeInstanceOf(QualtricsApiError)
    expect(error).toMatchObject({ code: 'QUALTRICS_API_ERROR', status: 502, retryable: true })
    expect(error.message).toMatchInlineSnapshot(
      `"Qualtrics answered 502 Bad Gateway to GET /API/v3/whoami: (Received: "<html><head><title>502 Bad Gateway</title></head><body>padding padding padding …")"`,
    )
  })
})

describe('Retry-After', () => {
  it.each([
    ['7', 7000],
    ['0', 0],
    ['Thu, 01 Jan 2032 00:00:30 GMT', 30_000],
    ['Thu, 01 Jan 2032 00:00:00 GMT', 0],
    ['soon', undefined],
  ])('reads Retry-After %j as %j ms', async (header, expected) => {
    answer = (_req, res) =>
      json(
        res,
        429,
        {
          meta: {
            httpStatus: '429 - Too Many Requests',
            error: { errorMessage: 'Slow down', errorCode: 'RATE' },
          },
        },
        { 'Retry-After': header },
      )
    const now = () => Date.UTC(2032, 0, 1, 0, 0, 0)
    const error = await rejectionOf(client({ now }).whoami())
    expect(error).toBeInstanceOf(QualtricsApiError)
    expect(error).toMatchObject({ code: 'QUALTRICS_RATE_LIMITED', status: 429, retryable: true })
    expect((error as QualtricsApiError).retryAfterMs).toBe(expected)
  })
})

describe('transactions', () => {
  const tx = {
    contactId: 'CID_1',
    mailingListId: 'CG_1',
    transactionDate: '2024-01-01 00:00:00',
    data: { a: 1 },
  }

  it('maps created ids and every form of unprocessed reason, and reports keys Qualtrics left out', async () => {
    answer = (_req, res) =>
      json(res, 200, {
        result: {
          createdTransactions: { k1: { id: 'CTR_1' }, '': { id: 'CTR_2' } },
          unprocessedTransactions: {
            k2: { errorCode: 'INVALID_DATE', errorMessage: 'transactionDate is invalid' },
            k3: 'contact not in mailing list',
            k4: { error: 'UNKNOWN_CONTACT' },
          },
        },
        meta: { httpStatus: '200 - OK', requestId: 'req-tx' },
      })
    const result = await client().createContactTransactions('POOL_1', {
      k1: tx,
      '': tx,
      k2: tx,
      k3: tx,
      k4: tx,
      k5: tx,
    })
    expect(result).toEqual({
      created: { k1: 'CTR_1', '': 'CTR_2' },
      unprocessed: {
        k2: { errorCode: 'INVALID_DATE', errorMessage: 'transactionDate is invalid' },
        k3: { errorMessage: 'contact not in mailing list' },
        k4: { errorCode: 'UNKNOWN_CONTACT', errorMessage: 'UNKNOWN_CONTACT' },
        k5: {
          errorCode: 'NOT_REPORTED',
          errorMessage: 'Qualtrics reported this transaction neither as created nor as unprocessed',
        },
      },
      requestId: 'req-tx',
    })
    expect(Object.keys(JSON.parse(server.requests[0]?.body ?? '{}') as object)).toEqual([
      'k1',
      '',
      'k2',
      'k3',
      'k4',
      'k5',
    ])
  })

  it('accepts unprocessed transactions given as a list of keys', async () => {
    answer = (_req, res) =>
      json(res, 200, { result: { createdTransactions: {}, unprocessedTransactions: ['k1'] }, meta: META })
    await expect(client().createContactTransactions('POOL_1', { k1: tx })).resolves.toEqual({
      created: {},
      unprocessed: { k1: { errorMessage: 'unprocessed (no reason given)' } },
      requestId: 'req-1',
    })
  })

  it('sends nothing for an empty map', async () => {
    await expect(client().createContactTransactions('POOL_1', {})).resolves.toEqual({
      created: {},
      unprocessed: {},
    })
    expect(server.requests).toHaveLength(0)
  })
})

describe('secrets stay out of errors and logs', () => {
  it('redacts the token when Qualtrics echoes it in an error', async () => {
    answer = (req, res) =>
      json(res, 401, {
        meta: {
          httpStatus: '401 - Unauthorized',
          error: {
            errorMessage: `Unrecognized X-API-TOKEN: ${String(req.headers['x-api-token'])}`,
            errorCode: 'AUTH',
          },
          requestId: 'req-401',
        },
      })
    const error = await rejectionOf(client().whoami())
    expect(error.message).not.toContain(TOKEN)
    expect(error.message).toMatchInlineSnapshot(
      `"Qualtrics answered 401 Unauthorized to GET /API/v3/whoami: Unrecognized X-API-TOKEN: [redacted] (errorCode AUTH, requestId req-401)"`,
    )
  })

  it('redacts the token when an unusable 200 echoes it', async () => {
    answer = (req, res) => json(res, 200, { echoed: req.headers['x-api-token'] })
    const error = await rejectionOf(client().whoami())
    expect(error).toMatchObject({ kind: 'no-envelope' })
    expect(error.message).not.toContain(TOKEN)
    expect(error.message).not.toContain(TOKEN.slice(0, 12))
  })

  it('logs method, path without query, status, ms and requestId — never the token', async () => {
    answer = (_req, res) =>
      json(res, 200, { result: { elements: [] }, meta: { ...META, notice: 'Request proxied.' } })
    const logger = memoryLogger()
    let clock = 1000
    const c = client({ logger, now: () => (clock += 5) })
    await c.searchDirectoryContacts(
      'POOL_1',
      { filterType: 'email', comparison: 'eq', value: 'a' },
      { skipToken: 'NQ==' },
    )
    answer = (_req, res) => json(res, 404, { meta: { httpStatus: '404 - Not Found', requestId: 'req-404' } })
    await expect(
      c.triggerWorkflow(
        `${server.url}/inbound-event/v1/events/json/triggers?urlTokenId=secret-url-token`,
        {},
      ),
    ).rejects.toThrow(QualtricsApiError)
    expect(logger.lines).toEqual([
      {
        level: 'info',
        message: 'qualtrics call',
        fields: {
          method: 'POST',
          path: '/API/v3/directories/POOL_1/contacts/search',
          status: 200,
          ms: 5,
          requestId: 'req-1',
          notice: 'Request proxied.',
        },
      },
      {
        level: 'warn',
        message: 'qualtrics call failed',
        fields: {
          method: 'POST',
          path: '/inbound-event/v1/events/json/triggers',
          status: 404,
          ms: 5,
          requestId: 'req-404',
          code: 'QUALTRICS_API_ERROR',
        },
      },
    ])
    expect(JSON.stringify(logger.lines)).not.toContain(TOKEN)
    expect(JSON.stringify(logger.lines)).not.toContain('secret-url-token')
  })

  it('a logger that throws does not fail the call', async () => {
    answer = (_req, res) => json(res, 200, { result: { id: 'CID_1' }, meta: META })
    const logger = {
      info: () => {
        throw new TypeError('logger down')
      },
      warn: () => {},
    }
    await expect(client({ logger }).createDirectoryContact('POOL_1', {})).resolves.toEqual({ id: 'CID_1' })
  })
})

describe('timeouts', () => {
  it('times out when the body never finishes', async () => {
    answer = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.write('{"result":')
    }
    const error = await rejectionOf(client({ timeoutMs: 100 }).whoami())
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error).toMatchObject({ code: 'TIMEOUT', retryable: true, timeoutMs: 100 })
  })

  it('times out even with a fetch that ignores the abort signal', async () => {
    const stubborn: typeof fetch = () => new Promise<Response>(() => {})
    const error = await rejectionOf(client({ timeoutMs: 50, fetch: stubborn }).whoami())
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error.message).toMatchInlineSnapshot(`"Qualtrics did not answer GET /API/v3/whoami within 50 ms"`)
  })
})
