import { describe, expect, it } from 'vitest'
import { checkFields } from '../../src/payload/check-fields'
import { checkPayload, validatePayload } from '../../src/payload/check-payload'

const now = () => Date.UTC(2026, 10, 28, 12, 30, 45)
const contact = { directoryId: 'POOL_012345678901234', extRef: 'user-1' }
const transaction = {
  directoryId: 'POOL_012345678901234',
  mailingListId: 'CG_012345678901234',
  extRef: 'user-1',
}

describe('checkPayload', () => {
  it('normalises a transaction: date to UTC "YYYY-MM-DD HH:MM:SS", nested data serialised per value', () => {
    const result = checkPayload(
      'upsertContactTransaction',
      {
        ...transaction,
        transactionDate: '2026-11-28T13:04:05.678+01:00',
        transactionData: { total: 12.5, currency: 'EUR', items: [{ sku: 'a' }], coupon: null, gift: true },
      },
      { now },
    )
    expect(result).toEqual({
      issues: [],
      payload: {
        ...transaction,
        transactionDate: '2026-11-28 12:04:05',
        transactionData: { total: 12.5, currency: 'EUR', items: '[{"sku":"a"}]', gift: true },
      },
    })
  })

  it('uses the injected clock when the event has no timestamp and an empty object for missing data', () => {
    expect(validatePayload('upsertContactTransaction', transaction, { now })).toEqual({
      ...transaction,
      transactionDate: '2026-11-28 12:30:45',
      transactionData: {},
    })
  })

  it.each([
    [1764333045000, '2025-11-28 12:30:45'],
    ['2024-02-29T23:59:59Z', '2024-02-29 23:59:59'],
    ['2024-02-29T23:59:59-01:00', '2024-03-01 00:59:59'],
    [new Date(Date.UTC(2000, 0, 1)), '2000-01-01 00:00:00'],
    // already in the Qualtrics form (checked in the browser, checked again in the proxy): kept as UTC
    ['2026-11-28 12:04:05', '2026-11-28 12:04:05'],
  ])('formats the transaction date %j as %s', (input, expected) => {
    const result = validatePayload(
      'upsertContactTransaction',
      { ...transaction, transactionDate: input },
      { now },
    )
    expect(result.transactionDate).toBe(expected)
  })

  it.each(
    (
      [
        ['addContactToXmd', { ...contact, directoryId: 'pool_1' }, 'directoryId'],
        ['addContactToXmd', { ...contact, directoryId: 'POOL_a/b' }, 'directoryId'],
        ['upsertContactTransaction', { ...transaction, mailingListId: 'ML_1' }, 'mailingListId'],
        ['upsertContactTransaction', { ...transaction, contactId: 'CG_1' }, 'contactId'],
        ['upsertContactTransaction', { ...transaction, transactionDate: 'yesterday' }, 'transactionDate'],
        ['upsertContactTransaction', { ...transaction, transactionDate: 8.7e15 }, 'transactionDate'],
        ['upsertContactTransaction', { ...transaction, transactionData: [1, 2] }, 'transactionData'],
        ['upsertContactTransaction', { ...transaction, extRef: '' }, 'extRef'],
        ['addContactToXmd', { ...contact, unsubscribed: 'no' }, 'unsubscribed'],
        ['addContactToXmd', { ...contact, email: { a: 1 } }, 'email'],
        ['addContactToXmd', { directoryId: contact.directoryId, firstName: 'Ann' }, 'extRef'],
        ['addContactToXmd', { ...contact, embeddedData: { ['k'.repeat(201)]: 'v' } }, 'embeddedData'],
        ['addContactToXmd', { ...contact, embeddedData: { plan: 'x'.repeat(1025) } }, 'embeddedData.plan'],
        ['addContactToXmd', { ...contact, embeddedData: { n: Infinity } }, 'embeddedData.n'],
        ['addContactToXmd', { ...contact, nickname: 'Al' }, 'nickname'],
        ['triggerXflowWorkflow', { workflowUrl: 'http://iad1.qualtrics.com/x' }, 'workflowUrl'],
        ['triggerXflowWorkflow', { workflowUrl: 'https://qualtrics.com.evil.test/x' }, 'workflowUrl'],
        ['triggerXflowWorkflow', { workflowUrl: 'https://iad1.qualtrics.com@evil.test/x' }, 'workflowUrl'],
        ['triggerXflowWorkflow', { workflowUrl: 'https://127.0.0.1/inbound-event' }, 'workflowUrl'],
        ['triggerXflowWorkflow', { workflowUrl: 'https://iad1.qualtrics.com:8443/x' }, 'workflowUrl'],
        ['triggerXflowWorkflow', { workflowUrl: 'https://evil.test/?q=.qualtrics.com' }, 'workflowUrl'],
        [
          'triggerXflowWorkflow',
          { workflowUrl: 'https://iad1.qualtrics.com/x', eventPayload: 'hi' },
          'eventPayload',
        ],
        [
          'triggerXflowWorkflow',
          { workflowUrl: 'https://iad1.qualtrics.com/x', eventPayload: { big: 'x'.repeat(102_400) } },
          'eventPayload',
        ],
      ] as const
    ).map(([action, payload, path]) => ({ action, payload, path })),
  )('$action refuses a payload with a bad $path', ({ action, payload, path }) => {
    const result = checkPayload(action, payload, { now })
    expect(result.payload).toBeUndefined()
    expect(result.issues.map((i) => i.path)).toContain(path)
  })

  it('accepts workflow URLs on qualtrics hosts, and the configured sandbox origin', () => {
    const url = 'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=abc'
    expect(validatePayload('triggerXflowWorkflow', { workflowUrl: url })).toEqual({
      workflowUrl: url,
      eventPayload: {},
    })
    const sandbox = 'http://127.0.0.1:4010/inbound-event/v1/events/json/triggers?urlTokenId=abc'
    expect(checkPayload('triggerXflowWorkflow', { workflowUrl: sandbox }).payload).toBeUndefined()
    expect(
      checkPayload(
        'triggerXflowWorkflow',
        { workflowUrl: sandbox },
        { workflowOrigins: ['http://127.0.0.1:4010'] },
      ).payload,
    ).toBeDefined()
  })

  it('coerces numbers to strings and "true"/"false" to booleans, and drops empty optional strings', () => {
    expect(
      validatePayload('addContactToXmd', { ...contact, extRef: 42, phone: '', unsubscribed: 'true' }),
    ).toEqual({
      directoryId: contact.directoryId,
      extRef: '42',
      unsubscribed: true,
    })
  })

  it('keeps a "__proto__" data key as plain data', () => {
    const data = JSON.parse('{"__proto__": "x", "a": 1}') as Record<string, unknown>
    const result = validatePayload('addContactToXmd', { ...contact, embeddedData: data })
    expect(Object.getPrototypeOf(result.embeddedData)).toBe(Object.prototype)
    expect(JSON.stringify(result.embeddedData)).toBe('{"__proto__":"x","a":1}')
  })

  it('lists every problem in one error, naming the field and what was received', () => {
    expect(() =>
      validatePayload('upsertContactTransaction', {
        directoryId: 'POOL_1',
        mailingListId: 42,
        transactionDate: 'soon',
        colour: 'red',
      }),
    ).toThrowErrorMatchingInlineSnapshot(`
      [PayloadValidationError: Invalid upsertContactTransaction payload
        - colour: is not a field of upsertContactTransaction (Received: "red")
        - extRef: is required (Received: undefined)
        - mailingListId: must be a Qualtrics id like CG_… (Received: 42)
        - transactionDate: must be a date, e.g. an ISO 8601 string (Received: "soon")]
    `)
  })

  it('reads a date already in the Qualtrics form as UTC, whatever the zone of the process', () => {
    // Node applies a TZ assignment at once; the browser formats, then the proxy checks the result again.
    const zone = process.env.TZ
    process.env.TZ = 'America/New_York'
    try {
      const once = validatePayload('upsertContactTransaction', {
        ...transaction,
        transactionDate: '2026-06-01T23:30:00Z',
      })
      expect(validatePayload('upsertContactTransaction', once).transactionDate).toBe('2026-06-01 23:30:00')
    } finally {
      if (zone === undefined) delete process.env.TZ
      else process.env.TZ = zone
    }
  })

  it('refuses what is not an object or not an action', () => {
    expect(checkPayload('addContactToXmd', [1]).issues).toEqual([
      { path: 'payload', message: 'must be an object (Received: [1])' },
    ])
    expect(checkPayload('dropTable' as 'addContactToXmd', {}).issues[0]?.path).toBe('action')
  })
})

describe('checkFields (what the browser runs before queueing)', () => {
  it('finds type, requiredness and identifier problems, not id forms and dates', () => {
    const raw = { directoryId: 'POOL_1', mailingListId: 42, transactionDate: 'soon', colour: 'red' }
    expect(checkFields('upsertContactTransaction', raw).issues.map((i) => i.path)).toEqual([
      'colour',
      'extRef',
    ])
    expect(checkFields('addContactToXmd', { directoryId: 'POOL_1' }).issues.map((i) => i.path)).toEqual([
      'extRef',
    ])
  })

  it('leaves id forms and dates to the proxy: passed through as they are, not formatted', () => {
    const raw = { ...transaction, directoryId: 'nope', contactId: 7, transactionDate: 1_700_000_000_000 }
    expect(checkFields('upsertContactTransaction', raw)).toEqual({
      payload: { ...raw, contactId: '7' },
      issues: [],
    })
    expect(checkPayload('upsertContactTransaction', raw).issues).toEqual([
      { path: 'directoryId', message: 'must be a Qualtrics id like POOL_… (Received: "nope")' },
      { path: 'contactId', message: 'must be a Qualtrics id like CID_… (Received: 7)' },
    ])
  })

  it('leaves data limits, workflow hosts and defaults to the proxy', () => {
    const workflow = { workflowUrl: 'https://evil.test/x' }
    expect(checkFields('triggerXflowWorkflow', workflow)).toEqual({ payload: workflow, issues: [] })
    expect(checkPayload('triggerXflowWorkflow', workflow).issues.map((i) => i.path)).toEqual(['workflowUrl'])
    const big = { ...contact, embeddedData: { plan: 'x'.repeat(1025) } }
    expect(checkFields('addContactToXmd', big).issues).toEqual([])
    expect(checkFields('upsertContactTransaction', transaction)).toEqual({ payload: transaction, issues: [] })
  })
})
