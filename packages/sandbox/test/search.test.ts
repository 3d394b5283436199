import { describe, expect, it } from 'vitest'
import { createManualClock, type SeedContact } from '../src/index'
import { call, dir, setupSandbox } from './support'

// Every contact is created at 2026-01-02 12:00:00 UTC.
const fixture = setupSandbox({ clock: createManualClock(Date.UTC(2026, 0, 2, 12)).now })

const people: SeedContact[] = [
  {
    extRef: 'u1',
    email: 'ann@example.com',
    phone: '111',
    firstName: 'Ann',
    lastName: 'Lee',
    embeddedData: { tier: 'gold' },
  },
  { extRef: 'u2', email: 'bob@example.com', phone: '222', firstName: 'Bob', lastName: 'Lee' },
  {
    extRef: 'u3',
    email: 'cy@example.com',
    firstName: 'Cy',
    lastName: 'Kim',
    unsubscribed: true,
    embeddedData: { Tier: 'silver' },
  },
]

const search = (body: unknown, query = '') =>
  call(fixture.sb, 'POST', dir(fixture.sb, `/contacts/search${query}`), { body })
const refs = (reply: {
  json: { result: { elements: Array<{ externalDataReference: string }> } }
}): string[] => reply.json.result.elements.map((e) => e.externalDataReference)

function seedPeople(contacts: SeedContact[] = people): void {
  fixture.sb.reset({ directories: [{ name: 'D', contacts }] })
}

const leaf = (filterType: string, value: string, comparison = 'eq') => ({ filterType, comparison, value })

describe('search filters as published (the default dialect)', () => {
  it.each([
    ['extRef', leaf('extRef', 'u2'), ['u2']],
    ['email, ignoring case', leaf('email', 'ANN@example.com'), ['u1']],
    ['a value with spaces around it, trimmed', leaf('email', '  ann@example.com '), ['u1']],
    ['phone', leaf('phone', '111'), ['u1']],
    ['lastName', leaf('lastName', 'lee'), ['u1', 'u2']],
    ['eq "" finding contacts without the field', leaf('phone', ''), ['u3']],
    ['neq', leaf('lastName', 'Lee', 'neq'), ['u3']],
    [
      'infoFieldState empty',
      { filterType: 'infoFieldState', field: 'firstName', comparison: 'notEmpty' },
      ['u1', 'u2', 'u3'],
    ],
    ['infoFieldState notEmpty', { filterType: 'infoFieldState', field: 'extRef', comparison: 'empty' }, []],
    ['created on a day', leaf('created', '2026-01-02', 'eq'), ['u1', 'u2', 'u3']],
    ['created after a second', leaf('created', '2026-01-02 00:00:00', 'gt'), ['u1', 'u2', 'u3']],
    ['lastModified before a day', leaf('lastModified', '2026-01-02', 'lt'), []],
    [
      'embedded data by name, ignoring the name case',
      { filterType: 'embeddedData', comparison: 'eq', field: 'tier', value: 'silver' },
      ['u3'],
    ],
    [
      'and: all must hold (Segment order extRef, phone, email)',
      {
        conjunction: 'and',
        filters: [leaf('extRef', 'u1'), leaf('phone', '111'), leaf('email', 'ann@example.com')],
      },
      ['u1'],
    ],
    [
      'and with one mismatch',
      { conjunction: 'and', filters: [leaf('extRef', 'u1'), leaf('phone', '222')] },
      [],
    ],
  ])('%s', async (_name, filter, expected) => {
    seedPeople()
    const reply = await search({ filter })
    expect(reply.status).toBe(200)
    expect(refs(reply)).toEqual(expected)
  })

  it('finds the members of a mailing list with inList true|false', async () => {
    fixture.sb.reset({
      directories: [
        {
          name: 'D',
          mailingLists: [{ name: 'L' }],
          contacts: [{ extRef: 'in', mailingLists: ['L'] }, { extRef: 'out' }],
        },
      ],
    })
    const listId = fixture.sb.mailingListId
    const inList = (comparison: string) =>
      search({ filter: { filterType: 'inList', comparison, mailingListId: listId } })
    expect(refs(await inList('true'))).toEqual(['in'])
    expect(refs(await inList('false'))).toEqual(['out'])
  })

  it('compares case-sensitively when configured', async () => {
    seedPeople()
    fixture.sb.setBehaviour({ searchCaseSensitive: true })
    expect(refs(await search({ filter: leaf('email', 'ANN@example.com') }))).toEqual([])
  })

  it('returns the published element shape (id, phoneNumber, externalDataReference), embedded data as strings only with includeEmbedded=true', async () => {
    seedPeople([{ ...people[0], embeddedData: { tier: 'gold', visits: 3, vip: true } }])
    const plain = await search({ filter: leaf('extRef', 'u1') })
    expect(plain.json.result).toEqual({
      elements: [
        {
          id: expect.stringMatching(/^CID_/),
          firstName: 'Ann',
          lastName: 'Lee',
          email: 'ann@example.com',
          phoneNumber: '111',
          externalDataReference: 'u1',
          unsubscribed: false,
          creationDate: expect.any(String),
          lastModified: expect.any(String),
        },
      ],
    })
    const withEmbedded = await search({ filter: leaf('extRef', 'u1') }, '?includeEmbedded=true')
    expect(withEmbedded.json.result.elements[0].embeddedData).toEqual({
      tier: 'gold',
      visits: '3',
      vip: 'true',
    })
  })

  const group = (conjunction: string, n: number) => ({
    conjunction,
    filters: Array.from({ length: n }, (_, i) => leaf('extRef', `u${i}`)),
  })

  it.each([
    [
      leaf('shoeSize', '9'),
      'filter.filterType: must be one of email, firstName, lastName, language, phone, extRef, created, lastModified, inList, infoFieldState, embeddedData (Received: string "shoeSize")',
    ],
    [
      leaf('externalDataReference', 'u1'),
      'filter.filterType: must be one of email, firstName, lastName, language, phone, extRef, created, lastModified, inList, infoFieldState, embeddedData (Received: string "externalDataReference")',
    ],
    [leaf('EMAIL', 'a'), expect.stringContaining('filter.filterType: must be one of email,')],
    [leaf('email', 'a', 'ne'), 'filter.comparison: must be one of eq, neq (Received: string "ne")'],
    [
      leaf('email', 'a', 'contains'),
      'filter.comparison: must be one of eq, neq (Received: string "contains")',
    ],
    [
      leaf('created', '2026-01-02', 'startsWith'),
      'filter.comparison: must be one of eq, neq, gt, lt, gte, lte (Received: string "startsWith")',
    ],
    [
      leaf('created', '02/01/2026'),
      'filter.value: must be "yyyy-MM-dd" or "yyyy-MM-dd hh:mm:ss" (Received: string "02/01/2026")',
    ],
    [
      { filterType: 'inList', comparison: 'eq', mailingListId: 'CG_1' },
      'filter.comparison: must be one of true, false (Received: string "eq")',
    ],
    [
      { filterType: 'infoFieldState', comparison: 'empty', field: 'phone' },
      'filter.field: must be one of email, extRef, firstName, lastName (Received: string "phone")',
    ],
    [
      { filterType: 'email', comparison: 'eq', value: 5 },
      'filter.value: must be a string (Received: number 5)',
    ],
    [
      group('or', 2),
      'filter.conjunction: must be "and" (the only conjunction Qualtrics documents) (Received: string "or")',
    ],
    [group('and', 1), 'filter.filters: must be an array of 2 to 5 filters (Received: array of 1)'],
    [group('and', 6), 'filter.filters: must be an array of 2 to 5 filters (Received: array of 6)'],
    [
      { conjunction: 'and', filters: [leaf('extRef', 'u1'), group('and', 2)] },
      'filter.filters[1]: groups cannot be nested (Received: object)',
    ],
  ])('answers 400 to %j', async (filter, message) => {
    const reply = await search({ filter })
    expect(reply.status).toBe(400)
    expect(reply.json.meta.error).toEqual({ errorCode: 'INVALID_PARAMETER', errorMessage: message })
  })
})

describe("search filters with behaviour dialect: 'lenient'", () => {
  it.each([
    ['the externalDataReference alias', leaf('externalDataReference', 'u3'), ['u3']],
    ['ne', leaf('lastName', 'Lee', 'ne'), ['u3']],
    ['contains', leaf('email', 'example', 'contains'), ['u1', 'u2', 'u3']],
    ['startsWith', leaf('firstName', 'b', 'startsWith'), ['u2']],
    ['unsubscribed', leaf('unsubscribed', 'true'), ['u3']],
    ['or', { conjunction: 'or', filters: [leaf('extRef', 'u1'), leaf('extRef', 'u3')] }, ['u1', 'u3']],
    [
      'nested groups',
      {
        conjunction: 'and',
        filters: [
          leaf('lastName', 'Lee'),
          { conjunction: 'or', filters: [leaf('firstName', 'Bob'), leaf('phone', '999')] },
        ],
      },
      ['u2'],
    ],
  ])('%s', async (_name, filter, expected) => {
    seedPeople()
    fixture.sb.setBehaviour({ dialect: 'lenient' })
    const reply = await search({ filter })
    expect(reply.status).toBe(200)
    expect(reply.json.result.elements.map((e: { extRef: string }) => e.extRef)).toEqual(expected)
  })

  it('returns both spellings of the identifiers', async () => {
    seedPeople()
    fixture.sb.setBehaviour({ dialect: 'lenient' })
    const plain = await search({ filter: leaf('extRef', 'u1') })
    expect(plain.json.result.elements[0]).toMatchObject({
      id: expect.stringMatching(/^CID_/),
      contactId: plain.json.result.elements[0].id,
      phone: '111',
      phoneNumber: '111',
      extRef: 'u1',
      externalDataReference: 'u1',
    })
  })

  it.each([
    [
      { filter: { filterType: 'shoeSize', comparison: 'eq', value: '9' } },
      'filter.filterType: must be one of firstName, lastName, email, phone, extRef, language, unsubscribed, embeddedData (Received: string "shoeSize")',
    ],
    [
      { filter: { filterType: 'email', comparison: 'like', value: 'a' } },
      'filter.comparison: must be one of eq, ne, contains, startsWith (Received: string "like")',
    ],
    [
      { filter: { conjunction: 'xor', filters: [] } },
      'filter.conjunction: must be "and" or "or" (Received: string "xor")',
    ],
    [
      { filter: { conjunction: 'or', filters: [{ filterType: 'email', comparison: 'eq' }] } },
      'filter.filters[0].value: must be a string, number or boolean (Received: undefined)',
    ],
  ])('still answers 400 naming the bad part of %j', async (body, message) => {
    fixture.sb.setBehaviour({ dialect: 'lenient' })
    const reply = await search(body)
    expect(reply.status).toBe(400)
    expect(reply.json.meta.error).toEqual({ errorCode: 'INVALID_PARAMETER', errorMessage: message })
  })
})

describe('search paging', () => {
  const many = (n: number): SeedContact[] =>
    Array.from({ length: n }, (_, i) => ({ extRef: `u${i}`, lastName: 'Same' }))
  const all = { filter: { filterType: 'lastName', comparison: 'eq', value: 'Same' } }

  const page = (query: string) => search(all, query)

  it('pages with pageSize and result.skipToken, passed back as the skipToken parameter (NQ== is offset 5)', async () => {
    seedPeople(many(12))
    const first = await page('?pageSize=5')
    expect(refs(first)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4'])
    expect(first.json.result.skipToken).toBe('NQ==')
    expect('nextPage' in first.json.result).toBe(false)
    const second = await page(`?pageSize=5&skipToken=${encodeURIComponent(first.json.result.skipToken)}`)
    expect(refs(second)).toEqual(['u5', 'u6', 'u7', 'u8', 'u9'])
    expect(second.json.result.skipToken).toBe('MTA=')
    const third = await page('?pageSize=5&skipToken=MTA%3D')
    expect(refs(third)).toEqual(['u10', 'u11'])
    expect(third.json.result).not.toHaveProperty('skipToken')
  })

  it('follows a full last page with an empty page', async () => {
    seedPeople(many(4))
    const first = await page('?pageSize=2&skipToken=Mg==')
    expect(refs(first)).toEqual(['u2', 'u3'])
    const last = await page(`?pageSize=2&skipToken=${first.json.result.skipToken}`)
    expect(last.json.result).toEqual({ elements: [] })
  })

  it('defaults to pages of 100', async () => {
    seedPeople(many(150))
    const reply = await search(all)
    expect(reply.json.result.elements).toHaveLength(100)
  })

  it('answers 400 SEARCH_DEPTH_LIMIT past the first 10,000 results', async () => {
    seedPeople(many(10_050))
    const lastAllowed = await page(`?pageSize=100&skipToken=${Buffer.from('9900').toString('base64')}`)
    expect(lastAllowed.status).toBe(200)
    expect(lastAllowed.json.result.elements).toHaveLength(100)
    const beyond = await page(`?pageSize=100&skipToken=${lastAllowed.json.result.skipToken}`)
    expect(beyond.status).toBe(400)
    expect(beyond.json.meta.error).toEqual({
      errorCode: 'SEARCH_DEPTH_LIMIT',
      errorMessage:
        'Search results are limited to the first 10000 contacts; use a contact export for more (Received: skipToken offset 10000)',
    })
  })

  it('cuts the page that crosses a configured depth limit', async () => {
    seedPeople(many(10))
    fixture.sb.setBehaviour({ searchDepthLimit: 5 })
    const reply = await page('?pageSize=3&skipToken=Mw==')
    expect(refs(reply)).toEqual(['u3', 'u4'])
    expect(reply.json.result).not.toHaveProperty('skipToken')
  })

  it.each([
    ['url', { elements: 3, nextPage: true }],
    ['both', { elements: 3, skipToken: 'Mw==', nextPage: true }],
  ] as const)('reports the next page as %s when configured', async (mode, expected) => {
    seedPeople(many(5))
    fixture.sb.setBehaviour({ searchNextPage: mode })
    const reply = await search(all, '?pageSize=3')
    expect(reply.json.result.elements).toHaveLength(expected.elements)
    expect(reply.json.result.skipToken).toBe('skipToken' in expected ? expected.skipToken : undefined)
    expect(new URL(reply.json.result.nextPage).searchParams.get('skipToken')).toBe('Mw==')
  })
})
