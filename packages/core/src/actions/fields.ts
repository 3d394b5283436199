// The type and requiredness of every action field, kept compact because the browser's payload check
// ships it. definitions.ts adds labels, descriptions and defaults on top of this table.
import type { ActionKey } from './payloads'

export type FieldType = 'STRING' | 'BOOLEAN' | 'OBJECT' | 'DATETIME'

/** `[type, required]` per field, in the order they are shown. */
export type FieldShape = readonly [FieldType, boolean]

const contact = {
  email: ['STRING', false],
  phone: ['STRING', false],
  firstName: ['STRING', false],
  lastName: ['STRING', false],
  language: ['STRING', false],
  unsubscribed: ['BOOLEAN', false],
  embeddedData: ['OBJECT', false],
} as const satisfies Record<string, FieldShape>

export const ACTION_FIELDS = {
  addContactToXmd: {
    directoryId: ['STRING', true],
    extRef: ['STRING', false],
    ...contact,
  },
  upsertContactTransaction: {
    directoryId: ['STRING', true],
    mailingListId: ['STRING', true],
    contactId: ['STRING', false],
    extRef: ['STRING', true],
    ...contact,
    transactionDate: ['DATETIME', false],
    transactionData: ['OBJECT', false],
  },
  triggerXflowWorkflow: {
    workflowUrl: ['STRING', true],
    eventPayload: ['OBJECT', false],
  },
} as const satisfies Record<ActionKey, Record<string, FieldShape>>
