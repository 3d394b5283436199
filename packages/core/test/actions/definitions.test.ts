import { describe, expect, it } from 'vitest'
import { ACTIONS, isActionKey } from '../../src/actions/definitions'

// The fields of product.md, in order: key, type, required.
const expected = {
  addContactToXmd: [
    ['directoryId', 'STRING', true],
    ['extRef', 'STRING', false],
    ['email', 'STRING', false],
    ['phone', 'STRING', false],
    ['firstName', 'STRING', false],
    ['lastName', 'STRING', false],
    ['language', 'STRING', false],
    ['unsubscribed', 'BOOLEAN', false],
    ['embeddedData', 'OBJECT', false],
  ],
  upsertContactTransaction: [
    ['directoryId', 'STRING', true],
    ['mailingListId', 'STRING', true],
    ['contactId', 'STRING', false],
    ['extRef', 'STRING', true],
    ['email', 'STRING', false],
    ['phone', 'STRING', false],
    ['firstName', 'STRING', false],
    ['lastName', 'STRING', false],
    ['language', 'STRING', false],
    ['unsubscribed', 'BOOLEAN', false],
    ['embeddedData', 'OBJECT', false],
    ['transactionDate', 'DATETIME', false],
    ['transactionData', 'OBJECT', false],
  ],
  triggerXflowWorkflow: [
    ['workflowUrl', 'STRING', true],
    ['eventPayload', 'OBJECT', false],
  ],
}

describe('action definitions', () => {
  it.each(Object.entries(expected))('%s has the fields of the product spec', (key, fields) => {
    const action = ACTIONS[key as keyof typeof ACTIONS]
    expect(action.key).toBe(key)
    expect(action.fields.map((f) => [f.key, f.type, f.required])).toEqual(fields)
    for (const field of action.fields) {
      expect(field.label.length).toBeGreaterThan(0)
      expect(field.description.length).toBeGreaterThan(0)
    }
  })

  it('has the default triggers of the product spec', () => {
    expect(ACTIONS.addContactToXmd.defaultTrigger).toBe('type = "identify"')
    expect(ACTIONS.upsertContactTransaction.defaultTrigger).toBe(
      'type = "track" and event = "Transaction Created"',
    )
    expect(ACTIONS.triggerXflowWorkflow.defaultTrigger).toBeNull()
  })

  it('has no default for required ids the user must choose', () => {
    const defaults = (key: keyof typeof ACTIONS) =>
      Object.fromEntries(ACTIONS[key].fields.map((f) => [f.key, f.default]))
    expect(defaults('addContactToXmd').directoryId).toBeUndefined()
    expect(defaults('upsertContactTransaction').directoryId).toBeUndefined()
    expect(defaults('triggerXflowWorkflow').workflowUrl).toBeUndefined()
    expect(defaults('addContactToXmd').extRef).toEqual({ '@path': '$.userId' })
    expect(defaults('addContactToXmd').unsubscribed).toBe(false)
  })

  it.each([
    ['addContactToXmd', true],
    ['upsertContactTransaction', true],
    ['triggerXflowWorkflow', true],
    ['toString', false],
    ['__proto__', false],
    [undefined, false],
  ])('isActionKey(%j) is %s', (value, result) => {
    expect(isActionKey(value)).toBe(result)
  })
})
