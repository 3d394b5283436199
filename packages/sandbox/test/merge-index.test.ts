// The merge-rule index stays in step with every path that changes a contact's fields.

import { describe, expect, it } from 'vitest'
import { call, dir, setupSandbox } from './support'

const fixture = setupSandbox()

const createContact = async (body: unknown): Promise<string> =>
  (await call(fixture.sb, 'POST', dir(fixture.sb, '/contacts'), { body })).json.result.id
const updateContact = (id: string, body: unknown) =>
  call(fixture.sb, 'PUT', dir(fixture.sb, `/contacts/${id}`), { body })

describe('merge matching after contacts change (default rules: extRef, then email)', () => {
  it('after a PUT changes the email, the new email merges into the contact and the old one does not', async () => {
    const id = await createContact({ email: 'old@x.io' })
    await updateContact(id, { email: 'New@X.io' })
    expect(await createContact({ email: 'new@x.io' })).toBe(id)
    const other = await createContact({ email: 'old@x.io' })
    expect(other).not.toBe(id)
    expect(fixture.sb.inspect().contacts).toHaveLength(2)
  })

  it('after a merge changes the email, the new email merges into the same contact', async () => {
    const id = await createContact({ extRef: 'u1', email: 'old@x.io' })
    expect(await createContact({ extRef: 'u1', email: 'new@x.io' })).toBe(id)
    expect(await createContact({ email: 'NEW@x.io' })).toBe(id)
    expect(await createContact({ email: 'old@x.io' })).not.toBe(id)
  })

  it('the oldest contact still wins when an older one is updated to match a newer one', async () => {
    const older = await createContact({ email: 'a@x.io' })
    const newer = await createContact({ email: 'b@x.io' })
    await updateContact(older, { email: 'b@x.io' })
    expect(await createContact({ email: 'b@x.io' })).toBe(older)
    expect(newer).not.toBe(older)
  })

  it('an emptied field no longer merges when blanks overwrite', async () => {
    fixture.sb.setBehaviour({ overwriteBlank: true })
    const id = await createContact({ extRef: 'u1', email: 'a@x.io' })
    await updateContact(id, { extRef: '' })
    expect(await createContact({ extRef: 'u1' })).not.toBe(id)
    expect(await createContact({ email: 'a@x.io' })).toBe(id)
  })
})
