// The three Qualtrics actions as data: labels, descriptions, default mappings and default triggers.
// Types and requiredness come from fields.ts. Keys and field names follow Segment's "Qualtrics
// (Actions)" destination, so mappings copied from Segment keep working.
import { ACTION_FIELDS, FIELD_TYPES, type FieldCode, type FieldType } from './fields'
import type { ActionKey } from './payloads'

export type { FieldType }

export interface FieldDefinition {
  key: string
  label: string
  type: FieldType
  required: boolean
  description: string
  /** A mapping value (Segment directives allowed) used when the user does not map the field. */
  default?: unknown
}

export interface ActionDefinition {
  key: ActionKey
  title: string
  description: string
  fields: readonly FieldDefinition[]
  /** Subscription text; `null` when the user must write one. */
  defaultTrigger: string | null
}

type FieldText = { label: string; description: string; default?: unknown }

const path = (p: string) => ({ '@path': p })
const withElse = (p: string, otherwise: unknown) => ({
  '@if': { exists: path(p), then: path(p), else: otherwise },
})
/** The first of `paths` that exists, else `fallback` (a nest of `@if`, as Segment writes it). */
const firstOf = (paths: string[], fallback?: unknown): unknown =>
  paths.reduceRight<unknown>(
    (otherwise, p) => (otherwise === undefined ? path(p) : withElse(p, otherwise)),
    fallback,
  )

/** Track events carry traits in `context.traits`, so the transaction action looks there too. */
const contactTexts = (traitPaths: (name: string) => string[]) => ({
  email: {
    label: 'Email',
    description: "The contact's email address.",
    default: withElse('$.email', firstOf(traitPaths('email'))),
  },
  phone: {
    label: 'Phone number',
    description: "The contact's phone number.",
    default: firstOf(traitPaths('phone')),
  },
  firstName: {
    label: 'First Name',
    description: "The contact's first name.",
    default: firstOf(traitPaths('firstName')),
  },
  lastName: {
    label: 'Last Name',
    description: "The contact's last name.",
    default: firstOf(traitPaths('lastName')),
  },
  language: {
    label: 'Language',
    description: "The contact's language code, e.g. `EN`, `FR-CA`.",
    default: firstOf(traitPaths('language'), 'EN'),
  },
  unsubscribed: {
    label: 'Contact is unsubscribed',
    description: 'Whether the contact opted out of messages.',
    default: false,
  },
  embeddedData: {
    label: 'Contact embedded data',
    description: 'Key/value data stored on the contact (names ≤ 200, values ≤ 1,024 characters).',
  },
})

const directoryId: FieldText = { label: 'Directory ID', description: 'The XM Directory (pool) id, `POOL_…`.' }

function define<K extends ActionKey>(
  key: K,
  title: string,
  description: string,
  defaultTrigger: string | null,
  texts: Record<keyof (typeof ACTION_FIELDS)[K], FieldText>,
): ActionDefinition {
  const codes: Record<string, FieldCode> = ACTION_FIELDS[key]
  const labelled: Record<string, FieldText> = texts
  const fields = Object.entries(codes).map(([field, code]): FieldDefinition => ({
    key: field,
    type: FIELD_TYPES[code.toLowerCase() as Lowercase<FieldCode>],
    required: code === 'S',
    ...(labelled[field] as FieldText),
  }))
  return { key, title, description, defaultTrigger, fields }
}

export const addContactToXmd = define(
  'addContactToXmd',
  'Create and/or update contact in XM Directory',
  "Creates the contact in the directory. With the directory's merge (deduplication) rules set up this is an upsert.",
  'type = "identify"',
  {
    directoryId,
    extRef: {
      label: 'External Data Reference',
      description: 'A unique id of the user in your systems.',
      default: path('$.userId'),
    },
    ...contactTexts((name) => [`$.traits.${name}`]),
  },
)

export const upsertContactTransaction = define(
  'upsertContactTransaction',
  'Upsert contact transaction',
  'Adds a transaction to a contact. The contact is found by id, external reference, email or phone, and created when none matches.',
  'type = "track" and event = "Transaction Created"',
  {
    directoryId,
    mailingListId: {
      label: 'Mailing list ID',
      description: 'The mailing list (`CG_…`) the transaction belongs to.',
      default: firstOf(['$.traits.qualtricsMailingListId', '$.context.traits.qualtricsMailingListId']),
    },
    contactId: {
      label: 'Contact ID',
      description: 'The contact (`CID_…`). When absent the contact is looked up by extRef, email or phone.',
      default: firstOf(['$.traits.qualtricsContactId', '$.context.traits.qualtricsContactId']),
    },
    extRef: {
      label: 'External Data Reference',
      description: 'Finds or creates the contact; not added to the transaction.',
      default: withElse('$.userId', path('$.anonymousId')),
    },
    ...contactTexts((name) => [`$.traits.${name}`, `$.context.traits.${name}`]),
    transactionDate: {
      label: 'Date & time of transaction',
      description: 'Sent to Qualtrics as `YYYY-MM-DD HH:MM:SS` in UTC.',
      default: path('$.timestamp'),
    },
    transactionData: {
      label: 'Transaction data',
      description: 'Key/value data of the transaction; nested values are serialised one by one.',
      default: path('$.properties'),
    },
  },
)

export const triggerXflowWorkflow = define(
  'triggerXflowWorkflow',
  'Start a workflow in Qualtrics',
  'POSTs a JSON event to a Qualtrics Workflows (Xflow) "JSON event" trigger URL.',
  null,
  {
    workflowUrl: {
      label: 'Workflow URL',
      description: 'The full URL of the JSON-event trigger, on an `https://*.qualtrics.com` host.',
    },
    eventPayload: {
      label: 'Event payload',
      description: 'The JSON body sent to the workflow.',
      default: {
        event: path('$.event'),
        type: path('$.type'),
        userId: path('$.userId'),
        properties: path('$.properties'),
        traits: path('$.traits'),
        context: path('$.context'),
      },
    },
  },
)

export const ACTIONS: Readonly<Record<ActionKey, ActionDefinition>> = {
  addContactToXmd,
  upsertContactTransaction,
  triggerXflowWorkflow,
}

export function isActionKey(value: unknown): value is ActionKey {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ACTIONS, value)
}
