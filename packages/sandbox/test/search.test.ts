import { describe, expect, it } from 'vitest'
import type { SeedContact } from '../src/index'
import { call, dir, setupSandbox } from './support'

const fixture = setupSandbox()

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
const refs = (reply: { json: { result: { elements: Array<{ extRef: string }> } } }): string[] =>
  reply.json.result.elements.map((e) => e.extRef)

function seedPeople(contacts: SeedContact[] = people): void {
  fixture.sb.reset({ directories: [{ name: 'D', contacts }] })
}

describe('POST /directories/{d}/contacts/search filters', () => {
  const leaf = (filterType: string, value: string, comparison = 'eq') => ({ filterType, comparison, value })

  it.each([
    ['extRef', leaf('extRef', 'u2'), ['u2']],
    ['email, ignoring case', leaf('email', 'ANN@example.com'), ['u1']],
    ['phone', leaf('phone', '111'), ['u1']],
    ['lastName', leaf('lastName', 'lee'), ['u1', 'u2']],
    ['the externalDataReference alias', leaf('externalDataReference', 'u3'), ['u3']],
    ['eq "" finding contacts without the field', leaf('phone', ''), ['u3']],
    ['ne', leaf('lastName', 'Lee', 'ne'), ['u3']],
    ['contains', leaf('email', 'example', 'contains'), ['u1', 'u2', 'u3']],
    ['startsWith', leaf('firstName', 'b', 'startsWith'), ['u2']],
    ['unsubscribed', leaf('unsubscribed', 'true'), ['u3']],
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
    const reply = await search({ filter })
    expect(reply.status).toBe(200)
    expect(refs(reply)).toEqual(expected)
  })

  it('compares case-sensitively when configured', async () => {
    seedPeople()
    fixture.sb.setBehaviour({ searchCaseSensitive: true })
    expect(refs(await search({ filter: leaf('email', 'ANN@example.com') }))).toEqual([])
  })

  it('returns elements with id and both spellings of the fields, embedded data only with includeEmbedded=true', async () => {
    seedPeople()
    const plain = await search({ filter: leaf('extRef', 'u1') })
    expect(plain.json.result.elements[0]).toEqual({
      id: expect.stringMatching(/^CID_/),
      contactId: plain.json.result.elements[0].id,
      firstName: 'Ann',
      lastName: 'Lee',
      email: 'ann@example.com',
      phone: '111',
      phoneNumber: '111',
      extRef: 'u1',
      externalDataReference: 'u1',
      unsubscribed: false,
      creationDate: expect.any(String),
      lastModified: expect.any(String),
    })
    const withEmbedded = await search({ filter: leaf('extRef', 'u1') }, '?includeEmbedded=true')
    expect(withEmbedded.json.result.elements[0].embeddedData).toEqual({ tier: 'gold' })
  })

  it.each([
    [{}, 'filter: must be an object (Received: undefined)'],
    [
      { filter: { filterType: 'shoeSize', comparison: 'eq', value: '9' } },
      'filter.filterType: must be one of firstName, lastName, email, phone, extRef, language, unsubscribed, embeddedData (Received: string "shoeSize")',
    ],
    [
      { filter: { filterType: 'email', comparison: 'like', value: 'a' } },
      'filter.comparison: must be one of eq, ne, contains, startsWith (Received: string "like")',
    ],
    [
      { filter: { filterType: 'email', comparison: 'eq', value: { a: 1 } } },
      'filter.value: must be a string, number or boolean (Received: object)',
    ],
    [
      { filter: { conjunction: 'xor', filters: [] } },
      'filter.conjunction: must be "and" or "or" (Received: string "xor")',
    ],
    [
      { filter: { conjunction: 'and', filters: [] } },
      'filter.filters: must be a non-empty array (Received: array of 0)',
    ],
    [
      { filter: { conjunction: 'or', filters: [{ filterType: 'email', comparison: 'eq' }] } },
      'filter.filters[0].value: must be a string, number or boolean (Received: undefined)',
    ],
  ])('answers 400 naming the bad part of %j', async (body, message) => {
    const reply = await search(body)
    expect(reply.status).toBe(400)
    expect(reply.json.meta.error).toEqual({ errorCode: 'INVALID_PARAMETER', errorMessage: message })
  })
})

describe('search paging', () => {
  const many = (n: number): SeedContact[] =>
    Array.from({ length: n }, (_, i) => ({ extRef: `u${i}`, lastName: 'Same' }))
  const all = { filter: { filterType: 'lastName', comparison: 'eq', value: 'Same' } }

  it('pages with pageSize and a base64-offset skipToken in nextPage (NQ== is offset 5)', async () => {
    seedPeople(many(12))
    const first = await search(all, '?pageSize=5')
    expect(refs(first)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4'])
    expect(first.json.result.nextPage).toBe(
      `${fixture.sb.url}${dir(fixture.sb, '/contacts/search')}?pageSize=5&skipToken=NQ%3D%3D`,
    )
    const second = await call(fixture.sb, 'POST', first.json.result.nextPage, { body: all })
    expect(refs(second)).toEqual(['u5', 'u6', 'u7', 'u8', 'u9'])
    expect(new URL(second.json.result.nextPage).searchParams.get('skipToken')).toBe('MTA=')
    const third = await call(fixture.sb, 'POST', second.json.result.nextPage, { body: all })
    expect(refs(third)).toEqual(['u10', 'u11'])
    expect(third.json.result.nextPage).toBeNull()
  })

  it('follows a full last page with an empty page', async () => {
    seedPeople(many(4))
    const first = await search(all, '?pageSize=2&skipToken=Mg==')
    expect(refs(first)).toEqual(['u2', 'u3'])
    const last = await call(fixture.sb, 'POST', first.json.result.nextPage, { body: all })
    expect(last.json.result).toEqual({ elements: [], nextPage: null })
  })

  it('defaults to pages of 100', async () => {
    seedPeople(many(150))
    const reply = await search(all)
    expect(reply.json.result.elements).toHaveLength(100)
  })

  it('answers 400 SEARCH_DEPTH_LIMIT past the first 10,000 results', async () => {
    seedPeople(many(10_050))
    const lastAllowed = await search(all, `?pageSize=100&skipToken=${Buffer.from('9900').toString('base64')}`)
    expect(lastAllowed.status).toBe(200)
    expect(lastAllowed.json.result.elements).toHaveLength(100)
    const beyond = await call(fixture.sb, 'POST', lastAllowed.json.result.nextPage, { body: all })
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
    const reply = await search(all, '?pageSize=3&skipToken=Mw==')
    expect(refs(reply)).toEqual(['u3', 'u4'])
    expect(reply.json.result.nextPage).toBeNull()
  })

  it.each([
    ['skipToken', { elements: 3, skipToken: 'Mw==' }],
    ['both', { elements: 3, skipToken: 'Mw==', nextPage: true }],
  ] as const)('reports the next page as %s when configured', async (mode, expected) => {
    seedPeople(many(5))
    fixture.sb.setBehaviour({ searchNextPage: mode })
    const reply = await search(all, '?pageSize=3')
    expect(reply.json.result.elements).toHaveLength(expected.elements)
    expect(reply.json.result.skipToken).toBe(expected.skipToken)
    expect('nextPage' in reply.json.result).toBe('nextPage' in expected)
  })
})
