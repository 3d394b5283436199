import { describe, expect, it } from 'vitest'
import type { MergeRule } from '../src/index'
import { call, dir, setupSandbox } from './support'

const fixture = setupSandbox()

const createContact = (body: unknown) => call(fixture.sb, 'POST', dir(fixture.sb, '/contacts'), { body })

describe('POST /directories/{d}/contacts', () => {
  it('creates a contact and answers its CID_ id', async () => {
    const reply = await createContact({
      firstName: 'Jane',
      lastName: 'Doe',
      email: 'jane@example.com',
      extRef: 'u1',
      embeddedData: { level: 'mid' },
    })
    expect(reply.status).toBe(200)
    expect(reply.json.result).toEqual({ id: expect.stringMatching(/^CID_[A-Za-z0-9]{15}$/) })
    const [contact] = fixture.sb.inspect().contacts
    expect(contact).toMatchObject({
      id: reply.json.result.id,
      firstName: 'Jane',
      email: 'jane@example.com',
      extRef: 'u1',
      embeddedData: { level: 'mid' },
      unsubscribed: false,
      origin: 'api',
    })
  })

  it('accepts an empty body (Segment sends {} when only directoryId is mapped)', async () => {
    const reply = await createContact({})
    expect(reply.status).toBe(200)
    expect(fixture.sb.inspect().contacts).toHaveLength(1)
  })

  it('answers 404 for an unknown directory', async () => {
    const reply = await call(fixture.sb, 'POST', '/API/v3/directories/POOL_unknown/contacts', { body: {} })
    expect(reply.status).toBe(404)
    expect(reply.json.meta.error).toEqual({
      errorCode: 'NOT_FOUND',
      errorMessage: 'Directory not found (Received: "POOL_unknown")',
    })
  })

  it('rejects mistyped fields and nested embedded data with 400, naming each field', async () => {
    const reply = await createContact({
      firstName: 5,
      unsubscribed: 'no',
      embeddedData: { nested: { a: 1 }, ok: 'yes' },
    })
    expect(reply.status).toBe(400)
    expect(reply.json.meta.error.errorMessage).toMatchInlineSnapshot(
      `"body.firstName: must be a string (Received: number 5); body.unsubscribed: must be a boolean (Received: string "no"); body.embeddedData.nested: must be a string, number or boolean (Received: object)"`,
    )
    expect(fixture.sb.inspect().contacts).toHaveLength(0)
  })

  it('rejects embedded-data values over 1,024 characters', async () => {
    const reply = await createContact({ embeddedData: { big: 'x'.repeat(1025) } })
    expect(reply.status).toBe(400)
    expect(reply.json.meta.error.errorMessage).toBe(
      'body.embeddedData.big: must be at most 1024 characters (Received: string "1025 characters")',
    )
  })

  it('without merge rules, every create adds a contact', async () => {
    fixture.sb.reset({ directories: [{ name: 'No dedup' }] })
    await createContact({ email: 'same@example.com' })
    await createContact({ email: 'same@example.com' })
    expect(fixture.sb.inspect().contacts).toHaveLength(2)
  })
})

describe('merge rules on create', () => {
  type Case = [string, MergeRule[], Record<string, string>, Record<string, string>, 'merged' | 'new']
  const cases: Case[] = [
    ['one field, same value', [['email']], { email: 'a@x.io' }, { email: 'a@x.io' }, 'merged'],
    [
      'matching ignores case',
      [['email']],
      { email: 'Barnaby@Tread.com' },
      { email: 'BARNABY@tread.com' },
      'merged',
    ],
    ['a different value creates', [['email']], { email: 'a@x.io' }, { email: 'b@x.io' }, 'new'],
    [
      'all fields of a rule must match',
      [['firstName', 'lastName']],
      { firstName: 'Ann', lastName: 'Lee' },
      { firstName: 'ann', lastName: 'Kim' },
      'new',
    ],
    [
      'all fields of a rule matching merges',
      [['firstName', 'lastName']],
      { firstName: 'Ann', lastName: 'Lee' },
      { firstName: 'ANN', lastName: 'lee' },
      'merged',
    ],
    [
      'a rule is skipped when the incoming contact lacks a field',
      [['email', 'phone']],
      { email: 'a@x.io', phone: '1' },
      { email: 'a@x.io' },
      'new',
    ],
    ['an empty string counts as lacking the field', [['extRef']], { extRef: '' }, { extRef: '' }, 'new'],
    [
      'the second rule applies when the first does not match',
      [['extRef'], ['email']],
      { extRef: 'u1', email: 'a@x.io' },
      { extRef: 'u2', email: 'a@x.io' },
      'merged',
    ],
    [
      'the second rule applies when the first is skipped',
      [['extRef'], ['email']],
      { extRef: 'u1', email: 'a@x.io' },
      { email: 'A@X.IO' },
      'merged',
    ],
    [
      'the third rule is tried too',
      [['extRef'], ['email'], ['phone']],
      { phone: '555' },
      { extRef: 'z', email: 'z@z', phone: '555' },
      'merged',
    ],
    [
      'no rule matching creates',
      [['extRef'], ['email'], ['phone']],
      { extRef: 'a', email: 'a@a', phone: '1' },
      { extRef: 'b', email: 'b@b', phone: '2' },
      'new',
    ],
  ]

  it.each(cases)('%s', async (_name, mergeRules, existing, incoming, expected) => {
    fixture.sb.reset({ directories: [{ name: 'D', mergeRules }] })
    const first = await createContact(existing)
    const second = await createContact(incoming)
    const contacts = fixture.sb.inspect().contacts
    if (expected === 'merged') {
      expect(contacts).toHaveLength(1)
      expect(second.json.result.id).toBe(first.json.result.id)
      expect(contacts[0]?.mergeCount).toBe(1)
    } else {
      expect(contacts).toHaveLength(2)
      expect(second.json.result.id).not.toBe(first.json.result.id)
    }
  })

  it('merges into the oldest matching contact', async () => {
    fixture.sb.reset({
      directories: [
        {
          name: 'D',
          mergeRules: [['email']],
          contacts: [
            { id: 'CID_older000000001', email: 'a@x.io' },
            { id: 'CID_newer000000002', email: 'a@x.io' },
          ],
        },
      ],
    })
    const reply = await createContact({ email: 'a@x.io' })
    expect(reply.json.result.id).toBe('CID_older000000001')
  })

  it('updates the existing contact: non-empty values, unsubscribed and language overwrite, embedded data merges', async () => {
    const first = await createContact({
      extRef: 'u1',
      firstName: 'Jane',
      lastName: 'Doe',
      language: 'FR',
      unsubscribed: true,
      embeddedData: { level: 'mid', Area: 'coast' },
    })
    await createContact({
      extRef: 'U1',
      firstName: 'Janet',
      lastName: '',
      language: 'EN',
      unsubscribed: false,
      embeddedData: { area: 'inland', tier: 2 },
    })
    const contact = fixture.sb.inspect().contacts[0]
    expect(contact).toMatchObject({
      id: first.json.result.id,
      extRef: 'U1',
      firstName: 'Janet',
      lastName: 'Doe',
      language: 'EN',
      unsubscribed: false,
      embeddedData: { level: 'mid', area: 'inland', tier: '2' },
    })
  })

  it('lets empty strings overwrite and embedded data be replaced when configured', async () => {
    fixture.sb.setBehaviour({ overwriteBlank: true, embeddedDataUpdate: 'replace' })
    await createContact({ extRef: 'u1', lastName: 'Doe', embeddedData: { level: 'mid' } })
    await createContact({ extRef: 'u1', lastName: '', embeddedData: { tier: '2' } })
    expect(fixture.sb.inspect().contacts[0]).toMatchObject({ lastName: '', embeddedData: { tier: '2' } })
  })

  it('answers a new id that does not resolve when mergeMatchId is "new"', async () => {
    fixture.sb.setBehaviour({ mergeMatchId: 'new' })
    const first = await createContact({ extRef: 'u1' })
    const second = await createContact({ extRef: 'u1', firstName: 'Jane' })
    expect(second.json.result.id).toMatch(/^CID_/)
    expect(second.json.result.id).not.toBe(first.json.result.id)
    const [contact] = fixture.sb.inspect().contacts
    expect(fixture.sb.inspect().contacts).toHaveLength(1)
    expect(contact?.mergedIds).toEqual([second.json.result.id])
    expect(
      (await call(fixture.sb, 'GET', dir(fixture.sb, `/contacts/${second.json.result.id}`))).status,
    ).toBe(404)
  })
})

describe('GET and PUT /directories/{d}/contacts/{c}', () => {
  it('gets a contact in the published shape: contactId, phone, extRef, directoryUnsubscribed, dates in epoch ms, list membership', async () => {
    const created = await call(
      fixture.sb,
      'POST',
      dir(fixture.sb, `/mailinglists/${fixture.sb.mailingListId}/contacts`),
      {
        body: { extRef: 'u1', phone: '555', email: 'j@x.io', embeddedData: { a: '1' } },
      },
    )
    const id = created.json.result.id
    const reply = await call(fixture.sb, 'GET', dir(fixture.sb, `/contacts/${id}`))
    expect(reply.json.result).toEqual({
      contactId: id,
      email: 'j@x.io',
      emailDomain: 'x.io',
      phone: '555',
      extRef: 'u1',
      directoryUnsubscribed: false,
      creationDate: expect.any(Number),
      lastModified: expect.any(Number),
      embeddedData: { a: '1' },
      mailingListMembership: {
        [fixture.sb.mailingListId]: {
          name: 'Sandbox Mailing List',
          contactLookupId: created.json.result.contactLookupId,
          unsubscribed: false,
          ownerId: expect.stringMatching(/^UR_/),
        },
      },
    })
    expect(reply.json.result.creationDate).toBe(Date.parse(fixture.sb.inspect().contacts[0]!.creationDate))
  })

  it("gets a contact with both spellings of its identifiers and ISO dates under dialect: 'lenient'", async () => {
    fixture.sb.setBehaviour({ dialect: 'lenient' })
    const id = (await createContact({ extRef: 'u1', phone: '555', embeddedData: { a: 1 } })).json.result.id
    const reply = await call(fixture.sb, 'GET', dir(fixture.sb, `/contacts/${id}`))
    expect(reply.json.result).toEqual({
      id,
      contactId: id,
      phone: '555',
      phoneNumber: '555',
      extRef: 'u1',
      externalDataReference: 'u1',
      unsubscribed: false,
      creationDate: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
      lastModified: expect.any(String),
      embeddedData: { a: 1 },
      mailingListMembership: {},
    })
  })

  it('answers 404 for an unknown contact', async () => {
    const reply = await call(fixture.sb, 'GET', dir(fixture.sb, '/contacts/CID_nope'))
    expect(reply.status).toBe(404)
    expect(reply.json.meta.error.errorMessage).toBe('Contact not found (Received: "CID_nope")')
  })

  it('updates given fields, merges embedded data and answers meta only', async () => {
    const id = (await createContact({ extRef: 'u1', firstName: 'Jane', embeddedData: { a: '1', b: '2' } }))
      .json.result.id
    const reply = await call(fixture.sb, 'PUT', dir(fixture.sb, `/contacts/${id}`), {
      body: { firstName: 'Janet', embeddedData: { b: '3' } },
    })
    expect(reply.status).toBe(200)
    expect(reply.json).toEqual({ meta: { httpStatus: '200 - OK', requestId: expect.any(String) } })
    expect(fixture.sb.inspect().contacts[0]).toMatchObject({
      extRef: 'u1',
      firstName: 'Janet',
      embeddedData: { a: '1', b: '3' },
    })
  })

  it('replaces embedded data on PUT when configured', async () => {
    fixture.sb.setBehaviour({ embeddedDataUpdate: 'replace' })
    const id = (await createContact({ embeddedData: { a: '1', b: '2' } })).json.result.id
    await call(fixture.sb, 'PUT', dir(fixture.sb, `/contacts/${id}`), { body: { embeddedData: { c: '3' } } })
    expect(fixture.sb.inspect().contacts[0]?.embeddedData).toEqual({ c: '3' })
  })

  it('rejects a PUT body that is not an object', async () => {
    const id = (await createContact({})).json.result.id
    const reply = await call(fixture.sb, 'PUT', dir(fixture.sb, `/contacts/${id}`), { body: ['x'] })
    expect(reply.status).toBe(400)
    expect(reply.json.meta.error.errorMessage).toBe(
      'Request body must be a JSON object (Received: array of 1)',
    )
  })
})

describe('GET /directories/{d}/contacts', () => {
  it('lists contacts in the list shape and pages with nextPage until null', async () => {
    fixture.sb.reset({
      directories: [{ name: 'D', contacts: [{ extRef: 'a' }, { extRef: 'b' }, { extRef: 'c' }] }],
    })
    const first = await call(fixture.sb, 'GET', dir(fixture.sb, '/contacts?pageSize=2'))
    expect(first.json.result.elements).toEqual([
      { contactId: expect.stringMatching(/^CID_/), extRef: 'a', unsubscribed: false },
      { contactId: expect.stringMatching(/^CID_/), extRef: 'b', unsubscribed: false },
    ])
    const second = await call(fixture.sb, 'GET', first.json.result.nextPage)
    expect(second.json.result.elements.map((c: { extRef: string }) => c.extRef)).toEqual(['c'])
    expect(second.json.result.nextPage).toBeNull()
  })

  it.each(['0', '101', 'ten'])('answers 400 for pageSize=%s', async (size) => {
    const reply = await call(fixture.sb, 'GET', dir(fixture.sb, `/contacts?pageSize=${size}`))
    expect(reply.status).toBe(400)
    expect(reply.json.meta.error.errorMessage).toBe(
      `pageSize must be an integer from 1 to 100 (Received: "${size}")`,
    )
  })

  it('answers 400 for a skipToken that is not a base64 offset', async () => {
    const reply = await call(fixture.sb, 'GET', dir(fixture.sb, '/contacts?skipToken=abc'))
    expect(reply.status).toBe(400)
    expect(reply.json.meta.error.errorMessage).toBe('skipToken is not valid (Received: "abc")')
  })
})
