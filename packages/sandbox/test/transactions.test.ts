import { describe, expect, it } from 'vitest'
import { call, dir, setupSandbox } from './support'

const fixture = setupSandbox()

async function newContact(extRef = 'u1'): Promise<string> {
  const reply = await call(fixture.sb, 'POST', dir(fixture.sb, '/contacts'), { body: { extRef } })
  return reply.json.result.id as string
}
const post = (body: unknown) => call(fixture.sb, 'POST', dir(fixture.sb, '/transactions'), { body })
const item = (contactId: string, extra: Record<string, unknown> = {}) => ({
  contactId,
  mailingListId: fixture.sb.mailingListId,
  transactionDate: '2024-02-29 23:59:59',
  data: { amount: 12.5, currency: 'EUR', paid: true },
  ...extra,
})

describe('POST /directories/{d}/transactions', () => {
  it('creates transactions keyed by the client keys, the empty key included', async () => {
    const contactId = await newContact()
    const reply = await post({ '': item(contactId), k2: item(contactId, { data: { n: '1' } }) })
    expect(reply.status).toBe(200)
    expect(reply.json.result).toEqual({
      createdTransactions: {
        '': { id: expect.stringMatching(/^CTR_[A-Za-z0-9]{15}$/) },
        k2: { id: expect.stringMatching(/^CTR_/) },
      },
      unprocessedTransactions: {},
    })
    const transactions = fixture.sb.inspect().transactions
    expect(transactions).toEqual([
      expect.objectContaining({
        key: '',
        contactId,
        mailingListId: fixture.sb.mailingListId,
        transactionDate: '2024-02-29 23:59:59',
        data: { amount: 12.5, currency: 'EUR', paid: true },
      }),
      expect.objectContaining({ key: 'k2', data: { n: '1' } }),
    ])
    expect(transactions[0]?.requestId).toBe(reply.json.meta.requestId)
  })

  it('records a key written twice as two transactions and reports the second as created', async () => {
    const contactId = await newContact()
    const first = await post({ 'msg-1': item(contactId) })
    const again = await post({ 'msg-1': item(contactId) })
    expect(again.json.result.createdTransactions['msg-1'].id).not.toBe(
      first.json.result.createdTransactions['msg-1'].id,
    )
    const snapshot = fixture.sb.inspect()
    expect(snapshot.transactions.filter((t) => t.key === 'msg-1')).toHaveLength(2)
    expect(snapshot.transactionKeyCounts).toEqual({ 'msg-1': 2 })
  })

  it('reports a repeated key as unprocessed when duplicateTransactionKey is "reject"', async () => {
    fixture.sb.setBehaviour({ duplicateTransactionKey: 'reject' })
    const contactId = await newContact()
    await post({ 'msg-1': item(contactId) })
    const again = await post({ 'msg-1': item(contactId) })
    expect(again.json.result).toEqual({
      createdTransactions: {},
      unprocessedTransactions: {
        'msg-1': {
          error: 'DUPLICATE_TRANSACTION_KEY',
          errorMessage: 'transaction key "msg-1" was already used in this directory',
        },
      },
    })
    expect(fixture.sb.inspect().transactions).toHaveLength(1)
  })

  it.each([
    [
      'an unknown contact',
      { contactId: 'CID_missing' },
      'CONTACT_NOT_FOUND',
      /contact not found in directory POOL_\w+ \(Received: "CID_missing"\)$/,
    ],
    [
      'a missing contactId',
      { contactId: undefined },
      'INVALID_CONTACT_ID',
      /contactId must be a contact id \(Received: undefined\)$/,
    ],
    [
      'an unknown mailing list',
      { mailingListId: 'CG_missing' },
      'MAILING_LIST_NOT_FOUND',
      /mailing list not found in directory POOL_\w+ \(Received: "CG_missing"\)$/,
    ],
    [
      'an ISO date',
      { transactionDate: '2024-01-01T10:00:00Z' },
      'INVALID_TRANSACTION_DATE',
      /transactionDate must be "YYYY-MM-DD HH:MM:SS" in 24-hour UTC \(Received: string "2024-01-01T10:00:00Z"\)$/,
    ],
    [
      'an AM/PM date',
      { transactionDate: '2024-01-01 10:00:00 PM' },
      'INVALID_TRANSACTION_DATE',
      /Received: string "2024-01-01 10:00:00 PM"/,
    ],
    [
      'an impossible date',
      { transactionDate: '2023-02-29 10:00:00' },
      'INVALID_TRANSACTION_DATE',
      /Received: string "2023-02-29 10:00:00"/,
    ],
    ['a missing date', { transactionDate: undefined }, 'INVALID_TRANSACTION_DATE', /Received: undefined/],
    [
      'nested data',
      { data: { cart: { items: 2 } } },
      'INVALID_TRANSACTION_DATA',
      /data\.cart: must be a string, number or boolean \(Received: object\)$/,
    ],
    [
      'data that is not an object',
      { data: 'x' },
      'INVALID_TRANSACTION_DATA',
      /data: must be an object of names to strings, numbers or booleans/,
    ],
  ])(
    'reports %s in unprocessedTransactions inside a 200, next to the good ones',
    async (_name, override, code, message) => {
      const contactId = await newContact()
      const reply = await post({ good: item(contactId), bad: item(contactId, override) })
      expect(reply.status).toBe(200)
      expect(Object.keys(reply.json.result.createdTransactions)).toEqual(['good'])
      expect(reply.json.result.unprocessedTransactions.bad.error).toBe(code)
      expect(reply.json.result.unprocessedTransactions.bad.errorMessage).toMatch(message)
      expect(fixture.sb.inspect().transactions.map((t) => t.key)).toEqual(['good'])
    },
  )

  it('requires list membership only when configured', async () => {
    const contactId = await newContact()
    expect(Object.keys((await post({ a: item(contactId) })).json.result.createdTransactions)).toEqual(['a'])
    fixture.sb.setBehaviour({ requireListMembership: true })
    const reply = await post({ b: item(contactId) })
    expect(reply.json.result.unprocessedTransactions.b.error).toBe('CONTACT_NOT_IN_MAILING_LIST')
  })

  it('stores data values as strings when configured', async () => {
    fixture.sb.setBehaviour({ coerceDataToStrings: true })
    const contactId = await newContact()
    await post({ a: item(contactId) })
    expect(fixture.sb.inspect().transactions[0]?.data).toEqual({
      amount: '12.5',
      currency: 'EUR',
      paid: 'true',
    })
  })

  it.each([
    [[], 'Request body must be a JSON object (Received: array of 0)'],
    [{}, 'Request body must map at least one transaction key to a transaction'],
  ])('answers 400 for the body %j', async (body, message) => {
    const reply = await post(body)
    expect(reply.status).toBe(400)
    expect(reply.json.meta.error.errorMessage).toBe(message)
  })

  it('answers 400 over the per-request maximum', async () => {
    fixture.sb.setBehaviour({ maxTransactionsPerRequest: 2 })
    const contactId = await newContact()
    const reply = await post({ a: item(contactId), b: item(contactId), c: item(contactId) })
    expect(reply.status).toBe(400)
    expect(reply.json.meta.error.errorMessage).toBe(
      'At most 2 transactions may be created per request (Received: 3)',
    )
  })
})

describe('GET and PUT /directories/{d}/transactions/{t}', () => {
  it('gets a transaction', async () => {
    const contactId = await newContact()
    const id = (await post({ k: item(contactId) })).json.result.createdTransactions.k.id
    const reply = await call(fixture.sb, 'GET', dir(fixture.sb, `/transactions/${id}`))
    expect(reply.json.result).toEqual({
      transactionId: id,
      contactId,
      mailingListId: fixture.sb.mailingListId,
      transactionDate: '2024-02-29 23:59:59',
      data: { amount: 12.5, currency: 'EUR', paid: true },
    })
  })

  it('replaces all data and the date on PUT, answering meta only', async () => {
    const contactId = await newContact()
    const id = (await post({ k: item(contactId) })).json.result.createdTransactions.k.id
    const reply = await call(fixture.sb, 'PUT', dir(fixture.sb, `/transactions/${id}`), {
      body: { transactionDate: '2024-03-01 08:00:00', data: { status: 'refunded' } },
    })
    expect(reply.json).toEqual({ meta: { httpStatus: '200 - OK', requestId: expect.any(String) } })
    expect(fixture.sb.inspect().transactions[0]).toMatchObject({
      transactionDate: '2024-03-01 08:00:00',
      data: { status: 'refunded' },
    })
  })

  it('answers 400 for a bad date on PUT and 404 for an unknown transaction', async () => {
    const contactId = await newContact()
    const id = (await post({ k: item(contactId) })).json.result.createdTransactions.k.id
    const bad = await call(fixture.sb, 'PUT', dir(fixture.sb, `/transactions/${id}`), {
      body: { transactionDate: '01/03/2024' },
    })
    expect(bad.status).toBe(400)
    expect(bad.json.meta.error.errorMessage).toBe(
      'transactionDate must be "YYYY-MM-DD HH:MM:SS" in 24-hour UTC (Received: string "01/03/2024")',
    )
    expect((await call(fixture.sb, 'GET', dir(fixture.sb, '/transactions/CTR_nope'))).status).toBe(404)
  })

  it("lists a contact's transactions", async () => {
    const contactId = await newContact()
    await post({ a: item(contactId), b: item(contactId) })
    const reply = await call(fixture.sb, 'GET', dir(fixture.sb, `/contacts/${contactId}/transactions`))
    expect(reply.json.result.elements).toHaveLength(2)
  })
})

describe('transaction batches', () => {
  it('creates a batch (BT_ id), lists, gets, adds to it and lists its transactions', async () => {
    const contactId = await newContact()
    const created = (await post({ a: item(contactId), b: item(contactId) })).json.result.createdTransactions
    const batch = await call(fixture.sb, 'POST', dir(fixture.sb, '/transactionbatches'), {
      body: { transactionIds: [created.a.id], creationDate: '2024-01-02 03:04:05' },
    })
    expect(batch.json.result).toEqual({ id: expect.stringMatching(/^BT_[A-Za-z0-9]{15}$/) })
    const batchId = batch.json.result.id
    const list = await call(fixture.sb, 'GET', dir(fixture.sb, '/transactionbatches'))
    expect(list.json.result).toEqual({
      elements: [{ batchId, creationDate: '2024-01-02 03:04:05' }],
      nextPage: null,
    })
    await call(fixture.sb, 'POST', dir(fixture.sb, `/transactionbatches/${batchId}/transactions`), {
      body: { transactionIds: [created.b.id, created.a.id] },
    })
    const got = await call(fixture.sb, 'GET', dir(fixture.sb, `/transactionbatches/${batchId}`))
    expect(got.json.result).toEqual({
      batchId,
      creationDate: '2024-01-02 03:04:05',
      transactionIds: [created.a.id, created.b.id],
    })
    const members = await call(
      fixture.sb,
      'GET',
      dir(fixture.sb, `/transactionbatches/${batchId}/transactions`),
    )
    expect(members.json.result.elements.map((t: { transactionId: string }) => t.transactionId)).toEqual([
      created.a.id,
      created.b.id,
    ])
  })

  it('defaults the creation date to now (UTC, 24-hour) and accepts an empty body', async () => {
    const batch = await call(fixture.sb, 'POST', dir(fixture.sb, '/transactionbatches'))
    expect(batch.status).toBe(200)
    expect(fixture.sb.inspect().transactionBatches[0]?.creationDate).toMatch(
      /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/,
    )
  })

  it.each([
    [{ transactionIds: ['CTR_nope'] }, 'transactionIds[0]: transaction not found in directory'],
    [{ transactionIds: 'CTR_x' }, 'transactionIds must be an array (Received: string "CTR_x")'],
    [
      { creationDate: '2024-01-02T03:04:05Z' },
      'creationDate must be "YYYY-MM-DD HH:MM:SS" in 24-hour UTC (Received: string "2024-01-02T03:04:05Z")',
    ],
  ])('answers 400 for %j', async (body, message) => {
    const reply = await call(fixture.sb, 'POST', dir(fixture.sb, '/transactionbatches'), { body })
    expect(reply.status).toBe(400)
    expect(reply.json.meta.error.errorMessage).toContain(message)
  })
})
