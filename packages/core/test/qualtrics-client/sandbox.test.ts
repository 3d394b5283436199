// Every client method against the sandbox (a local Qualtrics on port 0): the happy path, then each
// failure kind through the sandbox's fault rules and rate limiter.

import { startSandbox, type FaultRule, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  NetworkError,
  QualtricsApiError,
  QualtricsResponseError,
  TimeoutError,
  createQualtricsClient,
  type QualtricsClient,
  type QualtricsClientOptions,
} from '../../src/server/qualtrics'
import { closedPortUrl, memoryLogger, rejectionOf } from './helpers'

let sb: RunningSandbox
let client: QualtricsClient

beforeAll(async () => {
  sb = await startSandbox({ port: 0, randomSeed: 7 })
})
afterAll(() => sb.close())
beforeEach(() => {
  sb.reset()
  sb.setFaults([])
  sb.setRateLimit({})
  sb.setBehaviour({})
  client = make()
})

function make(extra: Partial<QualtricsClientOptions> = {}): QualtricsClient {
  return createQualtricsClient({ apiToken: sb.token, baseUrl: sb.url, ...extra })
}

/** Request ids and ports differ per run; the rest of a message is pinned. */
function stable(message: string): string {
  return message
    .replaceAll(sb.url, 'http://sandbox')
    .replace(/requestId [\w-]+/g, 'requestId <id>')
    .replace(/instanceId [\w-]+/g, 'instanceId <id>')
    .replaceAll(sb.directoryId, 'POOL_x')
}

const tx = (contactId: string, data: Record<string, string | number | boolean> = { amount: 5 }) => ({
  contactId,
  mailingListId: sb.mailingListId,
  transactionDate: '2024-03-01 12:00:00',
  data,
})

describe('each method against the sandbox', () => {
  it('whoami identifies the token’s user', async () => {
    const me = await client.whoami()
    expect(me).toMatchObject({ userId: expect.stringMatching(/^UR_/), brandId: sb.brandId })
    expect(me.userName).toContain('#')
  })

  it('listDirectories lists the seeded directory', async () => {
    const directories = await client.listDirectories()
    expect(directories).toContainEqual(
      expect.objectContaining({
        directoryId: sb.directoryId,
        isDefault: true,
        contactCount: expect.any(Number),
      }),
    )
  })

  it('createDirectoryContact creates a contact that getDirectoryContact reads back', async () => {
    const contact = {
      firstName: 'Jane',
      lastName: 'Doe',
      email: 'jane@example.com',
      phone: '0005551234',
      extRef: 'user-1',
      language: 'EN',
      unsubscribed: false,
      embeddedData: { plan: 'pro', seats: 3 },
    }
    const { id } = await client.createDirectoryContact(sb.directoryId, contact)
    expect(id).toMatch(/^CID_/)
    // Qualtrics types embedded data string → string when it is read back (spec §2.5).
    expect(await client.getDirectoryContact(sb.directoryId, id)).toMatchObject({
      id,
      ...contact,
      embeddedData: { plan: 'pro', seats: '3' },
    })
    expect(sb.inspect().contacts.map((c) => c.id)).toContain(id)
  })

  it('getDirectoryContact reads the published shape: directoryUnsubscribed and dates in epoch ms', async () => {
    const { id } = await client.createDirectoryContact(sb.directoryId, {
      extRef: 'opted-out',
      unsubscribed: true,
    })
    const stored = sb.inspect().contacts.find((c) => c.id === id)!
    expect(await client.getDirectoryContact(sb.directoryId, id)).toEqual({
      id,
      extRef: 'opted-out',
      unsubscribed: true,
      embeddedData: {},
      creationDate: new Date(Date.parse(stored.creationDate)).toISOString(),
      lastModified: new Date(Date.parse(stored.lastModified)).toISOString(),
    })
  })

  it('createContactInMailingList sends embedded data as strings, which the list create requires', async () => {
    const { id } = await client.createContactInMailingList(sb.directoryId, sb.mailingListId, {
      extRef: 'listed',
      embeddedData: { seats: 3, trial: false },
    })
    expect(sb.inspect().contacts.find((c) => c.id === id)?.embeddedData).toEqual({
      seats: '3',
      trial: 'false',
    })
  })

  it('updateDirectoryContact changes the stored contact', async () => {
    const { id } = await client.createDirectoryContact(sb.directoryId, { extRef: 'user-2', firstName: 'Old' })
    await expect(
      client.updateDirectoryContact(sb.directoryId, id, { firstName: 'New', embeddedData: { tier: 'gold' } }),
    ).resolves.toBeUndefined()
    expect(await client.getDirectoryContact(sb.directoryId, id)).toMatchObject({
      id,
      extRef: 'user-2',
      firstName: 'New',
      embeddedData: { tier: 'gold' },
    })
  })

  it('searchDirectoryContacts finds by one identifier and by an AND of several', async () => {
    const { id } = await client.createDirectoryContact(sb.directoryId, {
      extRef: 'user-3',
      email: 'three@example.com',
      phone: '333',
    })
    // Same phone, different extRef and email: the directory's merge rules (extRef, then email) keep it apart.
    await client.createDirectoryContact(sb.directoryId, {
      extRef: 'user-4',
      email: 'four@example.com',
      phone: '333',
    })
    const one = await client.searchDirectoryContacts(sb.directoryId, {
      filterType: 'extRef',
      comparison: 'eq',
      value: 'user-3',
    })
    expect(one).toEqual({ contacts: [expect.objectContaining({ id, extRef: 'user-3', phone: '333' })] })
    const both = await client.searchDirectoryContacts(sb.directoryId, {
      conjunction: 'and',
      filters: [
        { filterType: 'email', comparison: 'eq', value: 'three@example.com' },
        { filterType: 'phone', comparison: 'eq', value: '333' },
      ],
    })
    expect(both.contacts.map((c) => c.id)).toEqual([id])
  })

  it.each(['url', 'skipToken', 'both'] as const)(
    'searchDirectoryContacts pages with skipToken when the sandbox tells the next page by %s',
    async (searchNextPage) => {
      sb.setBehaviour({ searchNextPage })
      const created: string[] = []
      for (let i = 0; i < 7; i++) {
        created.push(
          (await client.createDirectoryContact(sb.directoryId, { lastName: 'Pager', extRef: `p-${i}` })).id,
        )
      }
      const filter = { filterType: 'lastName', comparison: 'eq', value: 'Pager' } as const
      const first = await client.searchDirectoryContacts(sb.directoryId, filter, { pageSize: 5 })
      expect(first.contacts).toHaveLength(5)
      expect(first.skipToken).toEqual(expect.any(String))
      const second = await client.searchDirectoryContacts(sb.directoryId, filter, {
        pageSize: 5,
        skipToken: first.skipToken ?? '',
      })
      expect(second.contacts).toHaveLength(2)
      expect(second.skipToken).toBeUndefined()
      expect([...first.contacts, ...second.contacts].map((c) => c.id).sort()).toEqual([...created].sort())
    },
  )

  it('createContactInMailingList adds a contact to the list', async () => {
    const result = await client.createContactInMailingList(sb.directoryId, sb.mailingListId, {
      email: 'listed@example.com',
      extRef: 'user-5',
    })
    expect(result).toEqual({
      id: expect.stringMatching(/^CID_/),
      contactLookupId: expect.stringMatching(/^CGC_/),
    })
    const list = sb.inspect().mailingLists.find((l) => l.id === sb.mailingListId)
    expect(list?.members[result.id]).toBe(result.contactLookupId)
  })

  it('createContactTransactions writes many transactions in one request', async () => {
    const { id } = await client.createDirectoryContact(sb.directoryId, { extRef: 'user-6' })
    const result = await client.createContactTransactions(sb.directoryId, {
      'msg-1:m': tx(id, { amount: 10 }),
      'msg-2:m': tx(id, { amount: 20, currency: 'EUR' }),
    })
    expect(result).toEqual({
      created: { 'msg-1:m': expect.stringMatching(/^CTR_/), 'msg-2:m': expect.stringMatching(/^CTR_/) },
      unprocessed: {},
      requestId: expect.any(String),
    })
    const state = sb.inspect()
    expect(state.transactions.map((t) => [t.key, t.contactId, t.data])).toEqual([
      ['msg-1:m', id, { amount: 10 }],
      ['msg-2:m', id, { amount: 20, currency: 'EUR' }],
    ])
    expect(state.requests.filter((r) => r.route === 'createTransactions')).toHaveLength(1)
  })

  it('createContactTransactions reports what the sandbox left unprocessed', async () => {
    const { id } = await client.createDirectoryContact(sb.directoryId, { extRef: 'user-7' })
    sb.setFaults([
      { kind: 'partial-unprocessed', count: 1, errorCode: 'INVALID', errorMessage: 'rejected by test' },
    ])
    const result = await client.createContactTransactions(sb.directoryId, { a: tx(id), b: tx(id) })
    expect(result.created).toEqual({ a: expect.stringMatching(/^CTR_/) })
    expect(result.unprocessed).toEqual({ b: { errorCode: 'INVALID', errorMessage: 'rejected by test' } })
    expect(sb.inspect().transactions.map((t) => t.key)).toEqual(['a'])
  })

  it('createContactTransactions reports an invalid transactionDate as unprocessed', async () => {
    const { id } = await client.createDirectoryContact(sb.directoryId, { extRef: 'user-8' })
    const result = await client.createContactTransactions(sb.directoryId, {
      good: tx(id),
      bad: { ...tx(id), transactionDate: '03/01/2024 12:00 PM' },
    })
    expect(Object.keys(result.created)).toEqual(['good'])
    expect(Object.keys(result.unprocessed)).toEqual(['bad'])
    expect(result.unprocessed.bad?.errorMessage).toEqual(expect.any(String))
  })

  it('listContactTransactions lists every transaction of a contact, across pages', async () => {
    const { id } = await client.createDirectoryContact(sb.directoryId, { extRef: 'user-list' })
    const other = await client.createDirectoryContact(sb.directoryId, { extRef: 'user-other' })
    const batch: Record<string, ReturnType<typeof tx>> = { other: tx(other.id) }
    for (let i = 0; i < 130; i++) batch[`k${i}`] = tx(id, { n: i })
    const { created } = await client.createContactTransactions(sb.directoryId, batch)
    const listed = await client.listContactTransactions(sb.directoryId, id)
    expect(listed).toHaveLength(130)
    expect(listed[0]).toEqual({
      id: created.k0,
      contactId: id,
      mailingListId: sb.mailingListId,
      transactionDate: '2024-03-01 12:00:00',
      data: { n: 0 },
    })
    expect(new Set(listed.map((t) => t.id)).size).toBe(130)
    const pages = sb.inspect().requests.filter((r) => r.route === 'listContactTransactions')
    expect(pages.length).toBeGreaterThan(1)
  })

  it('triggerWorkflow posts the JSON event with the token', async () => {
    await expect(
      client.triggerWorkflow(sb.workflowUrl, { event: 'Order Completed', total: 42 }),
    ).resolves.toEqual({
      status: 202,
    })
    const [run] = sb.inspect().workflowRuns
    expect(run).toMatchObject({ payload: { event: 'Order Completed', total: 42 }, auth: 'token' })
  })

  it('a search that matches several contacts returns them all (duplicate-search-match fault)', async () => {
    await client.createDirectoryContact(sb.directoryId, { extRef: 'dup' })
    sb.setFaults([{ kind: 'duplicate-search-match', count: 2 }])
    const result = await client.searchDirectoryContacts(sb.directoryId, {
      filterType: 'extRef',
      comparison: 'eq',
      value: 'dup',
    })
    expect(result.contacts.length).toBeGreaterThanOrEqual(2)
  })
})

describe('failures, one kind at a time', () => {
  it('401: an unknown token is not retryable', async () => {
    const error = await rejectionOf(make({ apiToken: 'tok_not_known_here' }).whoami())
    expect(error).toBeInstanceOf(QualtricsApiError)
    expect(error).toMatchObject({ code: 'QUALTRICS_API_ERROR', status: 401, retryable: false })
    expect((error as QualtricsApiError).requestId).toEqual(expect.any(String))
    expect(error.message).not.toContain('tok_not_known_here')
    expect(stable(error.message)).toMatchInlineSnapshot(
      `"Qualtrics answered 401 Unauthorized to GET /API/v3/whoami: Unrecognized X-API-TOKEN. (errorCode UNAUTHORIZED, requestId <id>)"`,
    )
  })

  it('404: an unknown directory, with the Qualtrics message and requestId', async () => {
    const error = await rejectionOf(client.createDirectoryContact('POOL_doesnotexist00', { extRef: 'x' }))
    expect(error).toMatchObject({
      code: 'QUALTRICS_API_ERROR',
      status: 404,
      retryable: false,
      errorCode: 'NOT_FOUND',
    })
    expect(stable(error.message)).toMatchInlineSnapshot(
      `"Qualtrics answered 404 Not Found to POST /API/v3/directories/POOL_doesnotexist00/contacts: Directory not found (Received: "POOL_doesnotexist00") (errorCode NOT_FOUND, requestId <id>)"`,
    )
  })

  it('404: an unknown contact', async () => {
    const error = await rejectionOf(client.getDirectoryContact(sb.directoryId, 'CID_doesnotexist00'))
    expect(error).toMatchObject({ status: 404, retryable: false })
  })

  it('429 from the real bucket carries Retry-After', async () => {
    sb.setRateLimit({ perMinute: 1, burst: 1 })
    await client.whoami()
    const error = await rejectionOf(client.whoami())
    expect(error).toBeInstanceOf(QualtricsApiError)
    expect(error).toMatchObject({ code: 'QUALTRICS_RATE_LIMITED', status: 429, retryable: true })
    expect((error as QualtricsApiError).retryAfterMs).toBeGreaterThan(0)
  })

  it('429 with Retry-After: 3 gives retryAfterMs 3000', async () => {
    sb.setFaults([{ kind: 'rate-limit', retryAfterSeconds: 3 }])
    const error = await rejectionOf(client.listDirectories())
    expect(error).toMatchObject({ code: 'QUALTRICS_RATE_LIMITED', retryable: true, retryAfterMs: 3000 })
    expect(stable(error.message)).toMatchInlineSnapshot(
      `"Qualtrics answered 429 Too Many Requests to GET /API/v3/directories: Too many requests: the limit of 3000 requests per minute for this brand was reached. Try again later. (errorCode TOO_MANY_REQUESTS, requestId <id>, retry after 3000 ms)"`,
    )
  })

  it('429 without Retry-After leaves retryAfterMs undefined', async () => {
    sb.setRateLimit({ retryAfter: false })
    sb.setFaults([{ kind: 'rate-limit' }])
    const error = await rejectionOf(client.whoami())
    expect(error).toMatchObject({ code: 'QUALTRICS_RATE_LIMITED', status: 429, retryable: true })
    expect((error as QualtricsApiError).retryAfterMs).toBeUndefined()
  })

  it('500 keeps errorCode and instanceId and is retryable', async () => {
    sb.setFaults([
      { kind: 'http-error', status: 500, errorCode: 'INTERNAL_ERROR', errorMessage: 'Something broke' },
    ])
    const error = await rejectionOf(client.createDirectoryContact(sb.directoryId, { extRef: 'x' }))
    expect(error).toBeInstanceOf(QualtricsApiError)
    const apiError = error as QualtricsApiError
    expect(apiError).toMatchObject({ status: 500, retryable: true, errorCode: 'INTERNAL_ERROR' })
    expect(apiError.instanceId).toEqual(expect.any(String))
    expect(apiError.requestId).toEqual(expect.any(String))
    expect(stable(error.message)).toMatchInlineSnapshot(
      `"Qualtrics answered 500 Internal Server Error to POST /API/v3/directories/POOL_x/contacts: Something broke (errorCode INTERNAL_ERROR, requestId <id>, instanceId <id>)"`,
    )
  })

  it.each([
    [503, true],
    [501, false],
    [400, false],
    [403, false],
    [408, true],
  ])('%i is retryable: %s', async (status, retryable) => {
    sb.setFaults([{ kind: 'http-error', status }])
    const error = await rejectionOf(client.whoami())
    expect(error).toMatchObject({ code: 'QUALTRICS_API_ERROR', status, retryable })
  })

  it('504 after a write is retryable, and the write did happen', async () => {
    sb.setFaults([{ kind: 'http-error', status: 504, route: 'createTransactions' }])
    const { id } = await client.createDirectoryContact(sb.directoryId, { extRef: 'user-504' })
    const error = await rejectionOf(client.createContactTransactions(sb.directoryId, { 'msg-504': tx(id) }))
    expect(error).toMatchObject({ code: 'QUALTRICS_API_ERROR', status: 504, retryable: true })
    expect(sb.inspect().transactionKeyCounts).toEqual({ 'msg-504': 1 })
  })

  it('times out when the sandbox holds the request', async () => {
    sb.setFaults([{ kind: 'timeout', ms: 5000 }])
    const error = await rejectionOf(make({ timeoutMs: 200 }).whoami())
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error).toMatchObject({ code: 'TIMEOUT', retryable: true })
    expect(error.message).toMatchInlineSnapshot(`"Qualtrics did not answer GET /API/v3/whoami within 200 ms"`)
  })

  it('a dropped connection is a retryable NetworkError', async () => {
    sb.setFaults([{ kind: 'disconnect' }])
    const error = await rejectionOf(client.whoami())
    expect(error).toBeInstanceOf(NetworkError)
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', retryable: true })
  })

  it('a closed port is a retryable NetworkError', async () => {
    const error = await rejectionOf(
      createQualtricsClient({ apiToken: sb.token, baseUrl: await closedPortUrl() }).whoami(),
    )
    expect(error).toBeInstanceOf(NetworkError)
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', retryable: true })
    expect(error.message.replace(/:\d+/g, ':<port>')).toMatchInlineSnapshot(
      `"Could not reach Qualtrics for GET /API/v3/whoami at http://127.0.0.1:<port>: connect ECONNREFUSED 127.0.0.1:<port>"`,
    )
  })

  it('a non-JSON 200 is a retryable bad response', async () => {
    sb.setFaults([{ kind: 'non-json', route: 'createContact' }])
    const error = await rejectionOf(client.createDirectoryContact(sb.directoryId, { extRef: 'x' }))
    expect(error).toBeInstanceOf(QualtricsResponseError)
    expect(error).toMatchObject({
      code: 'QUALTRICS_BAD_RESPONSE',
      kind: 'not-json',
      status: 200,
      retryable: true,
    })
    expect(stable(error.message)).toMatchInlineSnapshot(
      `"Qualtrics answered 200 to POST /API/v3/directories/POOL_x/contacts with an unusable response: the body is not JSON (Received: "<html><body><h1>Service temporarily unavailable</h1></body></html>")"`,
    )
  })

  it('an envelope-less 200 is a retryable bad response', async () => {
    sb.setFaults([{ kind: 'no-envelope', body: { id: 'CID_raw' } }])
    const error = await rejectionOf(client.createDirectoryContact(sb.directoryId, { extRef: 'x' }))
    expect(error).toMatchObject({ code: 'QUALTRICS_BAD_RESPONSE', kind: 'no-envelope', retryable: true })
    expect(stable(error.message)).toMatchInlineSnapshot(
      `"Qualtrics answered 200 to POST /API/v3/directories/POOL_x/contacts with an unusable response: the body is not a Qualtrics envelope { result, meta } (Received: {"id":"CID_raw"})"`,
    )
  })

  it('a workflow trigger failure is a QualtricsApiError naming the path but not the urlTokenId', async () => {
    sb.setFaults([{ kind: 'http-error', status: 500, route: 'triggerWorkflow' }])
    const error = await rejectionOf(client.triggerWorkflow(sb.workflowUrl, {}))
    expect(error).toMatchObject({ code: 'QUALTRICS_API_ERROR', status: 500, retryable: true })
    const urlTokenId = new URL(sb.workflowUrl).searchParams.get('urlTokenId') ?? '<missing>'
    expect(error.message).not.toContain(urlTokenId)
    expect(error.message).toContain('POST /inbound-event/v1/events/json/triggers')
  })
})

describe('the token never shows', () => {
  const faults: FaultRule[] = [
    { kind: 'http-error', status: 401 },
    { kind: 'http-error', status: 404 },
    { kind: 'http-error', status: 500, errorCode: 'E' },
    { kind: 'http-error', status: 503 },
    { kind: 'http-error', status: 504 },
    { kind: 'rate-limit', retryAfterSeconds: 1 },
    { kind: 'non-json' },
    { kind: 'no-envelope' },
    { kind: 'disconnect' },
    { kind: 'timeout', ms: 2000 },
  ]

  it('in any error message, cause or log line, whatever the failure', async () => {
    const logger = memoryLogger()
    const c = make({ logger, timeoutMs: 200 })
    const texts: string[] = []
    for (const fault of faults) {
      sb.setFaults([fault])
      const error = await rejectionOf(c.whoami())
      texts.push(error.message, String(error.stack), String((error.cause as Error | undefined)?.message))
    }
    sb.setFaults([])
    await c.whoami()
    expect(logger.lines).toHaveLength(faults.length + 1)
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(faults.length)
    const everything = JSON.stringify({ texts, logs: logger.lines })
    expect(everything).not.toContain(sb.token)
    expect(everything).toContain('GET /API/v3/whoami')
  })
})
