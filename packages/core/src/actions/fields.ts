// The type and requiredness of every action field, as one letter each because the browser's payload
// check ships this table: s string, b boolean, o object, d date-time; upper case = required.
// definitions.ts adds labels, descriptions and defaults on top of it.
import type { ActionKey } from './payloads'

export type FieldType = 'STRING' | 'BOOLEAN' | 'OBJECT' | 'DATETIME'
export type FieldCode = 's' | 'S' | 'b' | 'o' | 'd'

export const FIELD_TYPES: Record<Lowercase<FieldCode>, FieldType> = {
  s: 'STRING',
  b: 'BOOLEAN',
  o: 'OBJECT',
  d: 'DATETIME',
}

const contact = {
  email: 's',
  phone: 's',
  firstName: 's',
  lastName: 's',
  language: 's',
  unsubscribed: 'b',
  embeddedData: 'o',
} as const

/** Fields of each action, in the order they are shown. */
export const ACTION_FIELDS = {
  addContactToXmd: { directoryId: 'S', extRef: 's', ...contact },
  upsertContactTransaction: {
    directoryId: 'S',
    mailingListId: 'S',
    contactId: 's',
    extRef: 'S',
    ...contact,
    transactionDate: 'd',
    transactionData: 'o',
  },
  triggerXflowWorkflow: { workflowUrl: 'S', eventPayload: 'o' },
} as const satisfies Record<ActionKey, Record<string, FieldCode>>
