import { describe, expect, it } from 'vitest'
import { call, dir, setupSandbox } from './support'

const fixture = setupSandbox()

describe('mailing lists', () => {
  it('creates a list and answers its CG_ id', async () => {
    const reply = await call(fixture.sb, 'POST', dir(fixture.sb, '/mailinglists'), {
      body: { name: 'Buyers' },
    })
    expect(reply.status).toBe(200)
    expect(reply.json.result).toEqual({ id: expect.stringMatching(/^CG_[A-Za-z0-9]{15}$/) })
    const list = fixture.sb.inspect().mailingLists.find((l) => l.id === reply.json.result.id)
    expect(list).toMatchObject({ name: 'Buyers', directoryId: fixture.sb.directoryId })
  })

  it.each([[{}], [{ name: '' }], [{ name: 'x'.repeat(101) }]])(
    'answers 400 for the list body %j',
    async (body) => {
      const reply = await call(fixture.sb, 'POST', dir(fixture.sb, '/mailinglists'), { body })
      expect(reply.status).toBe(400)
      expect(reply.json.meta.error.errorMessage).toMatch(
        /^name must be a string of 1 to 100 characters \(Received: /,
      )
    },
  )

  it('lists the lists of a directory with their contact counts', async () => {
    await call(fixture.sb, 'POST', dir(fixture.sb, `/mailinglists/${fixture.sb.mailingListId}/contacts`), {
      body: { extRef: 'u1' },
    })
    const reply = await call(fixture.sb, 'GET', dir(fixture.sb, '/mailinglists'))
    expect(reply.json.result).toEqual({
      elements: [
        {
          mailingListId: fixture.sb.mailingListId,
          name: 'Sandbox Mailing List',
          ownerId: expect.stringMatching(/^UR_/),
          creationDate: expect.any(String),
          lastModifiedDate: expect.any(String),
          contactCount: 1,
        },
      ],
      nextPage: null,
    })
  })

  it('gets one list and answers 404 for a list of another directory', async () => {
    const got = await call(fixture.sb, 'GET', dir(fixture.sb, `/mailinglists/${fixture.sb.mailingListId}`))
    expect(got.json.result.mailingListId).toBe(fixture.sb.mailingListId)
    const other = fixture.sb.seed({ directories: [{ name: 'Other', mailingLists: [{ name: 'Elsewhere' }] }] })
    const reply = await call(
      fixture.sb,
      'GET',
      dir(fixture.sb, `/mailinglists/${other.mailingListIds[0] ?? ''}`),
    )
    expect(reply.status).toBe(404)
  })
})

describe('POST /directories/{d}/mailinglists/{m}/contacts', () => {
  const addToList = (body: unknown) =>
    call(fixture.sb, 'POST', dir(fixture.sb, `/mailinglists/${fixture.sb.mailingListId}/contacts`), { body })

  it('creates the contact in the directory and the list, answering id and contactLookupId', async () => {
    const reply = await addToList({ extRef: 'u1', email: 'a@x.io' })
    expect(reply.json.result).toEqual({
      id: expect.stringMatching(/^CID_/),
      contactLookupId: expect.stringMatching(/^CGC_[A-Za-z0-9]{15}$/),
    })
    const snapshot = fixture.sb.inspect()
    expect(snapshot.contacts).toEqual([
      expect.objectContaining({ id: reply.json.result.id, origin: 'mailing-list' }),
    ])
    expect(snapshot.mailingLists[0]?.members).toEqual({
      [reply.json.result.id]: reply.json.result.contactLookupId,
    })
  })

  it('applies the directory merge rules and keeps one membership for a merged contact', async () => {
    const first = await addToList({ extRef: 'u1', firstName: 'Jane' })
    const second = await addToList({ extRef: 'U1', firstName: 'Janet' })
    expect(second.json.result).toEqual(first.json.result)
    expect(fixture.sb.inspect().contacts).toEqual([
      expect.objectContaining({ firstName: 'Janet', mergeCount: 1 }),
    ])
  })

  it('adds an existing directory contact to a list through a merge', async () => {
    const created = await call(fixture.sb, 'POST', dir(fixture.sb, '/contacts'), {
      body: { email: 'a@x.io' },
    })
    const listed = await addToList({ email: 'a@x.io' })
    expect(listed.json.result.id).toBe(created.json.result.id)
  })

  it('lists the members of a list in the published shape (SingleContactLegacy)', async () => {
    const added = await addToList({ extRef: 'u1', embeddedData: { tier: 'gold' } })
    const reply = await call(
      fixture.sb,
      'GET',
      dir(fixture.sb, `/mailinglists/${fixture.sb.mailingListId}/contacts`),
    )
    expect(reply.json.result.elements).toEqual([
      { contactId: added.json.result.id, extRef: 'u1', unsubscribed: false, embeddedData: { tier: 'gold' } },
    ])
    fixture.sb.setBehaviour({ dialect: 'lenient' })
    const lenient = await call(
      fixture.sb,
      'GET',
      dir(fixture.sb, `/mailinglists/${fixture.sb.mailingListId}/contacts`),
    )
    expect(lenient.json.result.elements[0].contactLookupId).toBe(added.json.result.contactLookupId)
  })

  it('takes string embedded data only, as published (a number or boolean is a 400 naming it)', async () => {
    const reply = await addToList({ extRef: 'u1', embeddedData: { visits: 3, vip: true, tier: 'gold' } })
    expect(reply.status).toBe(400)
    expect(reply.json.meta.error.errorMessage).toBe(
      'body.embeddedData.visits: must be a string (Qualtrics takes string values here) (Received: number 3); body.embeddedData.vip: must be a string (Qualtrics takes string values here) (Received: boolean true)',
    )
    fixture.sb.setBehaviour({ dialect: 'lenient' })
    expect((await addToList({ extRef: 'u1', embeddedData: { visits: 3 } })).status).toBe(200)
  })

  it('answers 404 for an unknown list', async () => {
    const reply = await call(fixture.sb, 'POST', dir(fixture.sb, '/mailinglists/CG_nope/contacts'), {
      body: {},
    })
    expect(reply.status).toBe(404)
    expect(reply.json.meta.error.errorMessage).toBe('Mailing list not found (Received: "CG_nope")')
  })
})
