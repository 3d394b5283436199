// The mapped, validated payload of each action: what validatePayload() returns and what the delivery
// engine receives. Values here are already normalised (dates in Qualtrics' format, data flattened).

export type ActionKey = 'addContactToXmd' | 'upsertContactTransaction' | 'triggerXflowWorkflow'

/** Embedded or transaction data after flattening: one scalar per key. */
export type FlatData = Record<string, string | number | boolean>

export interface ContactPayload {
  directoryId: string
  extRef?: string
  email?: string
  phone?: string
  firstName?: string
  lastName?: string
  language?: string
  unsubscribed?: boolean
  embeddedData?: FlatData
}

export interface TransactionPayload extends ContactPayload {
  mailingListId: string
  contactId?: string
  /** `YYYY-MM-DD HH:MM:SS`, UTC. */
  transactionDate: string
  transactionData: FlatData
}

export interface WorkflowPayload {
  workflowUrl: string
  eventPayload: Record<string, unknown>
}

export interface PayloadByAction {
  addContactToXmd: ContactPayload
  upsertContactTransaction: TransactionPayload
  triggerXflowWorkflow: WorkflowPayload
}

/**
 * An identifier a contact can be found by. `lookupBy` lists the ones the delivery engine may use to find
 * an existing contact (the contact-id cache, searches); they are always tried strongest first.
 */
export type ContactLookupField = 'extRef' | 'email' | 'phone'

/** One unit of delivery work: a mapped payload for one mapping of one event. */
export type DeliveryItem = {
  [K in ActionKey]: {
    /** The event's messageId; with `mappingId` it identifies the item and derives idempotency keys. */
    messageId: string
    mappingId: string
    action: K
    payload: PayloadByAction[K]
    /** Who sent it (the write key's name in the proxy, the plugin's name in node). */
    source?: string
    /**
     * Contact actions: the identifiers that may lead to an existing contact. Default: all three. An
     * identifier left out is still written on a contact the engine creates, but is never searched for
     * or read from the contact-id cache, and is left out of the create when another contact already
     * holds it (so the directory's merge rules cannot match on it either). The proxy sets `['extRef']`
     * for write keys with signed identities, where only the extRef is vouched for.
     */
    lookupBy?: readonly ContactLookupField[]
  }
}[ActionKey]
