import { describe, expect, it } from 'vitest'
import { checkPayload, MappingError, mapEvent, parseMappingSet } from '@qualtrics-relay/core'

const directoryId = 'POOL_012345678901234'
const mailingListId = 'CG_012345678901234'
const workflowUrl = 'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=abc'

const defaults = parseMappingSet([
  { id: 'contact', action: 'addContactToXmd', fields: { directoryId } },
  { id: 'purchase', action: 'upsertContactTransaction', fields: { directoryId, mailingListId } },
  {
    id: 'feedback',
    action: 'triggerXflowWorkflow',
    trigger: 'event = "Feedback Requested"',
    fields: { workflowUrl },
  },
])

const identify = {
  type: 'identify',
  userId: 'u1',
  messageId: 'm1',
  timestamp: '2026-11-28T10:00:00.000Z',
  traits: { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee', phone: '555', plan: 'pro' },
}
const purchase = {
  type: 'track',
  event: 'Transaction Created',
  userId: 'u1',
  messageId: 'm2',
  timestamp: '2026-11-28T10:05:00.000Z',
  properties: { total: 42.5, items: [{ sku: 'a' }] },
  context: { traits: { email: 'ann@example.com', language: 'FR' } },
}

describe('parseMappingSet', () => {
  it('merges the action defaults and pre-parses the default triggers', () => {
    expect(defaults.map((m) => [m.id, m.action, m.triggerText])).toEqual([
      ['contact', 'addContactToXmd', 'type = "identify"'],
      ['purchase', 'upsertContactTransaction', 'type = "track" and event = "Transaction Created"'],
      ['feedback', 'triggerXflowWorkflow', 'event = "Feedback Requested"'],
    ])
    expect(JSON.parse(JSON.stringify(defaults))).toEqual(defaults) // plain JSON, servable to browsers
  })

  it('lets null remove a default and drops disabled mappings', () => {
    const [spec, ...rest] = parseMappingSet([
      { id: 'a', action: 'addContactToXmd', fields: { directoryId, language: null, unsubscribed: null } },
      { id: 'b', action: 'addContactToXmd', fields: { directoryId }, enabled: false },
    ])
    expect(rest).toEqual([])
    expect(spec?.fields).not.toHaveProperty('language')
    expect(spec?.fields).not.toHaveProperty('unsubscribed')
  })

  it('lists every problem of every mapping at once', () => {
    let error: unknown
    try {
      parseMappingSet([
        { id: 'ok', action: 'addContactToXmd', fields: { directoryId } },
        { id: 'ok', action: 'addContactToXmd', fields: { directoryId } },
        { id: 'bad id!', action: 'sendEmail' },
        { id: 'no-dir', action: 'upsertContactTransaction', trigger: 'event = ', colour: 1 },
        { id: 'wf', action: 'triggerXflowWorkflow', fields: { workflowUrl, nope: 1 } },
        'x',
      ])
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(MappingError)
    const paths = (error as MappingError).issues.map((i) => i.path)
    expect(paths).toEqual([
      'mappings.1.id',
      'mappings.2.id',
      'mappings.2.action',
      'mappings.3.colour',
      'mappings.3.trigger',
      'mappings.3.fields.directoryId',
      'mappings.4.trigger',
      'mappings.4.fields.nope',
      'mappings.5',
    ])
  })

  it('refuses a 51st mapping', () => {
    const many = Array.from({ length: 51 }, (_, i) => ({
      id: `m${i}`,
      action: 'addContactToXmd',
      fields: { directoryId },
    }))
    expect(() => parseMappingSet(many)).toThrow(/has 51 mappings; at most 50 are allowed/)
    expect(parseMappingSet(many.slice(0, 50))).toHaveLength(50)
  })

  it('refuses directives it does not run', () => {
    expect(() =>
      parseMappingSet([
        { id: 'a', action: 'addContactToXmd', fields: { directoryId, firstName: { '@liquid': '{{ x }}' } } },
      ]),
    ).toThrow(MappingError)
  })
})

describe('mapEvent with the default mappings', () => {
  it('maps an identify to a contact', () => {
    expect(mapEvent(defaults, identify)).toEqual({
      failures: [],
      payloads: [
        {
          mappingId: 'contact',
          action: 'addContactToXmd',
          payload: {
            directoryId,
            extRef: 'u1',
            email: 'ann@example.com',
            phone: '555',
            firstName: 'Ann',
            lastName: 'Lee',
            language: 'EN',
            unsubscribed: false,
          },
        },
      ],
    })
  })

  it('maps "Transaction Created" to a transaction, reading traits from context.traits', () => {
    const payload = {
      directoryId,
      mailingListId,
      extRef: 'u1',
      email: 'ann@example.com',
      language: 'FR',
      unsubscribed: false,
    }
    // The browser's check (the default) leaves the data and the date as mapped; the whole check
    // flattens the data and formats the date for Qualtrics.
    expect(mapEvent(defaults, purchase)).toEqual({
      failures: [],
      payloads: [
        {
          mappingId: 'purchase',
          action: 'upsertContactTransaction',
          payload: {
            ...payload,
            transactionDate: purchase.timestamp,
            transactionData: { total: 42.5, items: [{ sku: 'a' }] },
          },
        },
      ],
    })
    expect(mapEvent(defaults, purchase, (a, p) => checkPayload(a, p)).payloads[0]?.payload).toEqual({
      ...payload,
      transactionDate: '2026-11-28 10:05:00',
      transactionData: { total: 42.5, items: '[{"sku":"a"}]' },
    })
  })

  it('maps a workflow event with the default event payload', () => {
    const event = {
      type: 'track',
      event: 'Feedback Requested',
      userId: 'u1',
      properties: { score: 3 },
      context: {},
    }
    expect(mapEvent(defaults, event).payloads).toEqual([
      {
        mappingId: 'feedback',
        action: 'triggerXflowWorkflow',
        payload: {
          workflowUrl,
          eventPayload: {
            event: 'Feedback Requested',
            type: 'track',
            userId: 'u1',
            properties: { score: 3 },
            context: {},
          },
        },
      },
    ])
  })

  it('ignores events no trigger matches, and reports a mapping that produces an invalid payload', () => {
    expect(mapEvent(defaults, { type: 'page', name: 'Home' })).toEqual({ payloads: [], failures: [] })
    const anonymous = { type: 'identify', traits: { firstName: 'Ann' } }
    expect(mapEvent(defaults, anonymous)).toEqual({
      payloads: [],
      failures: [
        {
          mappingId: 'contact',
          action: 'addContactToXmd',
          issues: [
            {
              path: 'extRef',
              message: 'or email or phone is needed to identify the contact (Received: undefined)',
            },
          ],
        },
      ],
    })
  })
})
