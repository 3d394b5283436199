import { describe, expect, it } from 'vitest'
import { parseFaultRules, type FaultRules } from '../src/index'
import { call, dir, setupSandbox, useSandboxes } from './support'

const fixture = setupSandbox()
const start = useSandboxes()

const createContact = (body: unknown = { extRef: 'u1' }) =>
  call(fixture.sb, 'POST', dir(fixture.sb, '/contacts'), { body })

describe('error faults', () => {
  it('answers 500 with errorCode and instanceId, without applying the write', async () => {
    fixture.sb.setFaults([{ kind: 'http-error', status: 500, route: 'createContact' }])
    const reply = await createContact()
    expect(reply.status).toBe(500)
    expect(reply.json.meta).toEqual({
      httpStatus: '500 - Internal Server Error',
      error: {
        errorMessage: 'Sandbox fault: Internal Server Error.',
        errorCode: 'INTERNAL_SERVER_ERROR',
        instanceId: expect.stringMatching(/^sandbox-[0-9a-f]{8}$/),
      },
      requestId: expect.any(String),
    })
    expect(fixture.sb.inspect().contacts).toHaveLength(0)
    expect(fixture.sb.inspect().requests.at(-1)).toMatchObject({
      status: 500,
      fault: 'http-error',
      route: 'createContact',
    })
  })

  it('answers 503 with a custom code and message', async () => {
    fixture.sb.setFaults([
      { kind: 'http-error', status: 503, errorCode: 'SVC_UNAVAIL', errorMessage: 'try later' },
    ])
    const reply = await call(fixture.sb, 'GET', '/API/v3/whoami')
    expect(reply.status).toBe(503)
    expect(reply.json.meta.error).toMatchObject({ errorCode: 'SVC_UNAVAIL', errorMessage: 'try later' })
  })

  it('answers 504 after the write was applied', async () => {
    fixture.sb.setFaults([{ kind: 'http-error', status: 504, route: 'createTransactions' }])
    const contactId = (await createContact()).json.result.id
    const reply = await call(fixture.sb, 'POST', dir(fixture.sb, '/transactions'), {
      body: {
        k: {
          contactId,
          mailingListId: fixture.sb.mailingListId,
          transactionDate: '2024-01-01 00:00:00',
          data: {},
        },
      },
    })
    expect(reply.status).toBe(504)
    expect(reply.json.meta.error.errorCode).toBe('GATEWAY_TIMEOUT')
    expect(fixture.sb.inspect().transactions).toHaveLength(1)
  })

  it('lets any error apply the write first with afterWrite, and a 504 skip it with afterWrite false', async () => {
    fixture.sb.setFaults([
      { kind: 'http-error', status: 500, afterWrite: true, times: 1 },
      { kind: 'http-error', status: 504, afterWrite: false },
    ])
    expect((await createContact({ extRef: 'a' })).status).toBe(500)
    expect((await createContact({ extRef: 'b' })).status).toBe(504)
    expect(fixture.sb.inspect().contacts.map((c) => c.extRef)).toEqual(['a'])
  })

  it('answers a forced 429 with Retry-After', async () => {
    fixture.sb.setFaults([{ kind: 'rate-limit', retryAfterSeconds: 7 }])
    const reply = await call(fixture.sb, 'GET', '/API/v3/whoami')
    expect(reply.status).toBe(429)
    expect(reply.headers.get('retry-after')).toBe('7')
    expect(reply.json.meta.error.errorCode).toBe('TOO_MANY_REQUESTS')
  })
})

describe('broken answers', () => {
  it('answers a 200 whose body is not JSON (an HTML page), after applying the write', async () => {
    fixture.sb.setFaults([{ kind: 'non-json', route: 'createContact' }])
    const reply = await createContact()
    expect(reply.status).toBe(200)
    expect(reply.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(reply.json).toBeUndefined()
    expect(reply.text).toContain('<html>')
    expect(fixture.sb.inspect().contacts).toHaveLength(1)
  })

  it('can claim application/json for a body that is not JSON', async () => {
    fixture.sb.setFaults([{ kind: 'non-json', contentType: 'application/json', body: 'not json {' }])
    const reply = await call(fixture.sb, 'GET', '/API/v3/whoami')
    expect(reply.headers.get('content-type')).toBe('application/json')
    expect(reply.text).toBe('not json {')
  })

  it('answers a 200 without the envelope', async () => {
    fixture.sb.setFaults([{ kind: 'no-envelope', route: 'searchContacts' }])
    const reply = await call(fixture.sb, 'POST', dir(fixture.sb, '/contacts/search'), {
      body: { filter: { filterType: 'extRef', comparison: 'eq', value: 'u1' } },
    })
    expect(reply.status).toBe(200)
    expect(reply.json).toEqual({})
  })

  it('answers a chosen envelope-less body', async () => {
    fixture.sb.setFaults([{ kind: 'no-envelope', body: { id: 'CID_bare' } }])
    expect((await createContact()).json).toEqual({ id: 'CID_bare' })
  })
})

describe('connection faults', () => {
  it('adds latency and then serves the request normally', async () => {
    fixture.sb.setFaults([{ kind: 'latency', ms: 50, route: 'whoami' }])
    const reply = await call(fixture.sb, 'GET', '/API/v3/whoami')
    expect(reply.status).toBe(200)
    expect(fixture.sb.inspect().requests.at(-1)).toMatchObject({ status: 200, fault: 'latency' })
  })

  it('holds the request open longer than the client waits, after applying the write when asked', async () => {
    fixture.sb.setFaults([{ kind: 'timeout', ms: 2_000, afterWrite: true, route: 'createContact' }])
    const attempt = fetch(`${fixture.sb.url}${dir(fixture.sb, '/contacts')}`, {
      method: 'POST',
      headers: { 'X-API-TOKEN': fixture.sb.token, 'Content-Type': 'application/json' },
      body: JSON.stringify({ extRef: 'slow' }),
      signal: AbortSignal.timeout(100),
    })
    await expect(attempt).rejects.toMatchObject({ name: 'TimeoutError' })
    await expect.poll(() => fixture.sb.inspect().contacts.map((c) => c.extRef)).toEqual(['slow'])
    expect(fixture.sb.inspect().inFlight).toBe(1)
  })

  it('drops the connection without an answer', async () => {
    fixture.sb.setFaults([{ kind: 'disconnect', route: 'whoami' }])
    await expect(
      fetch(`${fixture.sb.url}/API/v3/whoami`, { headers: { 'X-API-TOKEN': fixture.sb.token } }),
    ).rejects.toThrow(TypeError)
    expect(fixture.sb.inspect().requests.at(-1)).toMatchObject({ status: 0, fault: 'disconnect' })
  })

  it('ends held requests when the sandbox closes', async () => {
    const sb = await start({ faults: [{ kind: 'timeout', ms: 60_000 }] })
    const attempt = fetch(`${sb.url}/API/v3/whoami`, { headers: { 'X-API-TOKEN': sb.token } })
    await expect.poll(() => sb.inspect().inFlight).toBe(1)
    await sb.close()
    await expect(attempt).rejects.toThrow(TypeError)
    expect(sb.inspect().requests).toEqual([expect.objectContaining({ status: 0, fault: 'timeout' })])
  })
})

describe('faults that change what a route does', () => {
  const filter = {
    filter: {
      conjunction: 'and',
      filters: [
        { filterType: 'extRef', comparison: 'eq', value: 'u1' },
        { filterType: 'email', comparison: 'eq', value: 'a@x.io' },
      ],
    },
  }

  it('makes a search with one match return 2, creating a real duplicate', async () => {
    await createContact({ extRef: 'u1', email: 'a@x.io', firstName: 'Jane' })
    fixture.sb.setFaults([{ kind: 'duplicate-search-match' }])
    const reply = await call(fixture.sb, 'POST', dir(fixture.sb, '/contacts/search'), { body: filter })
    expect(reply.json.result.elements).toHaveLength(2)
    const contacts = fixture.sb.inspect().contacts
    expect(contacts.map((c) => [c.extRef, c.email, c.firstName, c.origin])).toEqual([
      ['u1', 'a@x.io', 'Jane', 'api'],
      ['u1', 'a@x.io', 'Jane', 'fault'],
    ])
  })

  it('makes a search with no match return the requested count, built from the filter values', async () => {
    fixture.sb.setFaults([{ kind: 'duplicate-search-match', count: 3, times: 1 }])
    const reply = await call(fixture.sb, 'POST', dir(fixture.sb, '/contacts/search'), { body: filter })
    expect(
      reply.json.result.elements.map((e: { externalDataReference: string; email: string }) => [
        e.externalDataReference,
        e.email,
      ]),
    ).toEqual([
      ['u1', 'a@x.io'],
      ['u1', 'a@x.io'],
      ['u1', 'a@x.io'],
    ])
    const again = await call(fixture.sb, 'POST', dir(fixture.sb, '/contacts/search'), { body: filter })
    expect(again.json.result.elements).toHaveLength(3)
  })

  it('reports the last valid transactions as unprocessed and does not write them', async () => {
    const contactId = (await createContact()).json.result.id
    fixture.sb.setFaults([{ kind: 'partial-unprocessed', count: 2 }])
    const tx = { contactId, mailingListId: fixture.sb.mailingListId, transactionDate: '2024-01-01 00:00:00' }
    const reply = await call(fixture.sb, 'POST', dir(fixture.sb, '/transactions'), {
      body: { a: tx, b: tx, c: tx },
    })
    expect(reply.status).toBe(200)
    expect(Object.keys(reply.json.result.createdTransactions)).toEqual(['a'])
    expect(reply.json.result.unprocessedTransactions).toEqual({
      b: {
        error: 'TRANSACTION_NOT_PROCESSED',
        errorMessage: 'The transaction could not be processed; it was not created.',
      },
      c: {
        error: 'TRANSACTION_NOT_PROCESSED',
        errorMessage: 'The transaction could not be processed; it was not created.',
      },
    })
    expect(fixture.sb.inspect().transactions.map((t) => t.key)).toEqual(['a'])
  })
})

describe('targeting and counting', () => {
  it('fires only for the matching method and path glob', async () => {
    fixture.sb.setFaults([
      { kind: 'http-error', status: 503, method: 'POST', path: '/API/v3/directories/*/contacts' },
    ])
    expect((await call(fixture.sb, 'GET', dir(fixture.sb, '/contacts'))).status).toBe(200)
    expect(
      (
        await call(fixture.sb, 'POST', dir(fixture.sb, '/contacts/search'), {
          body: { filter: { filterType: 'email', comparison: 'eq', value: 'x' } },
        })
      ).status,
    ).toBe(200)
    expect((await createContact()).status).toBe(503)
  })

  it('fires the next N times after skipping some, then stays listed as spent', async () => {
    fixture.sb.setFaults([{ kind: 'http-error', status: 500, route: 'whoami', skip: 1, times: 2 }])
    const statuses = []
    for (let i = 0; i < 5; i++) statuses.push((await call(fixture.sb, 'GET', '/API/v3/whoami')).status)
    expect(statuses).toEqual([200, 500, 500, 200, 200])
    expect(fixture.sb.inspect().faults).toEqual([
      {
        rule: { kind: 'http-error', status: 500, route: 'whoami', skip: 1, times: 2 },
        matched: 5,
        fired: 2,
        remaining: 0,
      },
    ])
  })

  it('applies the first firing rule, and latency together with it', async () => {
    fixture.sb.setFaults([
      { kind: 'latency', ms: 1 },
      { kind: 'http-error', status: 503 },
      { kind: 'http-error', status: 500 },
    ])
    expect((await call(fixture.sb, 'GET', '/API/v3/whoami')).status).toBe(503)
  })

  it('fires with a probability drawn from the seeded generator, reproducibly', async () => {
    const rules: FaultRules = [{ kind: 'http-error', status: 500, probability: 0.5 }]
    const run = async (): Promise<number[]> => {
      const sb = await start({ randomSeed: 7, faults: rules })
      const out: number[] = []
      for (let i = 0; i < 20; i++) out.push((await call(sb, 'GET', '/API/v3/whoami')).status)
      return out
    }
    const first = await run()
    expect(await run()).toEqual(first)
    expect(first).toContain(500)
    expect(first).toContain(200)
  })

  it('clears all faults with []', async () => {
    fixture.sb.setFaults([{ kind: 'http-error', status: 500 }])
    fixture.sb.setFaults([])
    expect((await call(fixture.sb, 'GET', '/API/v3/whoami')).status).toBe(200)
  })

  it('applies faults to workflow triggers too', async () => {
    fixture.sb.setFaults([{ kind: 'http-error', status: 504, route: 'triggerWorkflow' }])
    const reply = await call(fixture.sb, 'POST', fixture.sb.workflowUrl, { body: { a: 1 } })
    expect(reply.status).toBe(504)
    expect(fixture.sb.inspect().workflowRuns).toHaveLength(1)
  })
})

describe('parseFaultRules', () => {
  it('lists every bad rule with what it received', () => {
    expect(() =>
      parseFaultRules([
        { kind: 'explode' },
        { kind: 'http-error' },
        { kind: 'latency', ms: -1, probability: 2 },
        { kind: 'timeout', route: 'nope' },
        'x',
      ]),
    ).toThrowErrorMatchingInlineSnapshot(`
      [SandboxError: Invalid fault rules:
        - faults[0].kind: must be one of http-error, latency, timeout, disconnect, rate-limit, non-json, no-envelope, duplicate-search-match, partial-unprocessed (Received: string "explode")
        - faults[1].status: is required (400–599)
        - faults[2].probability: must be a number from 0 to 1 (Received: number 2)
        - faults[2].ms: must be an integer from 0 to 600000 (Received: number -1)
        - faults[3].route: must be a route name or a list of them (whoami, listDirectories, listContacts, createContact, searchContacts, getContact, updateContact, listContactTransactions, listMailingLists, createMailingList, getMailingList, listMailingListContacts, createMailingListContact, createTransactions, getTransaction, updateTransaction, listTransactionBatches, createTransactionBatch, getTransactionBatch, listBatchTransactions, addBatchTransactions, triggerWorkflow) (Received: string "nope")
        - faults[4]: must be an object (Received: string "x")]
    `)
  })

  it('refuses a bad rule at run time and keeps the previous rules', async () => {
    fixture.sb.setFaults([{ kind: 'http-error', status: 503 }])
    expect(() => fixture.sb.setFaults([{ kind: 'http-error', status: 200 } as never])).toThrow(
      'faults[0].status: must be an integer from 400 to 599 (Received: number 200)',
    )
    expect((await call(fixture.sb, 'GET', '/API/v3/whoami')).status).toBe(503)
  })
})
