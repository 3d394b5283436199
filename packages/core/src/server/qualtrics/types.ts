// The contract of the Qualtrics API client: what the delivery engine calls. The client in
// qualtrics-client.ts implements it against the real REST API (or the sandbox).

export interface ContactFields {
  firstName?: string
  lastName?: string
  email?: string
  phone?: string
  extRef?: string
  language?: string
  unsubscribed?: boolean
  embeddedData?: Record<string, string | number | boolean>
}

/** A contact as returned by search/get. `lastModified` is an ISO date when Qualtrics gives one. */
export interface DirectoryContact extends ContactFields {
  id: string
  lastModified?: string
  creationDate?: string
}

export type ContactFilterType = 'extRef' | 'email' | 'phone' | 'firstName' | 'lastName'

export interface ContactFilterLeaf {
  filterType: ContactFilterType
  comparison: 'eq'
  value: string
}
/**
 * A group of leaves. Qualtrics documents only `and` with 2 to 5 leaves, not nested (spec §2.4); `or`
 * is undocumented and sent only once a live check has seen the brand honour it.
 */
export interface ContactFilterGroup {
  conjunction: 'and' | 'or'
  filters: ContactFilterLeaf[]
}
export type ContactFilter = ContactFilterLeaf | ContactFilterGroup

export interface SearchContactsResult {
  contacts: DirectoryContact[]
  /** Present when another page exists. */
  skipToken?: string
}

export interface ContactTransaction {
  contactId: string
  mailingListId: string
  /** `YYYY-MM-DD HH:MM:SS`, UTC. */
  transactionDate: string
  data: Record<string, string | number | boolean>
}

export interface CreateTransactionsResult {
  /** key → created transaction id (`CTR_…`). */
  created: Record<string, string>
  /** key → reason, for items Qualtrics reported as unprocessed. */
  unprocessed: Record<string, { errorCode?: string; errorMessage: string }>
  requestId?: string
}

export interface WhoAmI {
  userId: string
  userName: string
  brandId: string
  datacenter?: string
  email?: string
  firstName?: string
  lastName?: string
  accountType?: string
}

/** Which contact fields a directory's merge (deduplication) rules use (`GET /directories`, spec §2.2). */
export interface DeduplicationCriteria {
  email?: boolean
  firstName?: boolean
  lastName?: boolean
  externalDataReference?: boolean
  phone?: boolean
}

export interface DirectorySummary {
  directoryId: string
  name: string
  contactCount?: number
  isDefault?: boolean
  deduplicationCriteria?: DeduplicationCriteria
}

/** Every method rejects with a RelayError subclass (see server/qualtrics/errors.ts). */
export interface QualtricsApi {
  whoami(): Promise<WhoAmI>
  listDirectories(): Promise<DirectorySummary[]>
  createDirectoryContact(directoryId: string, contact: ContactFields): Promise<{ id: string }>
  searchDirectoryContacts(
    directoryId: string,
    filter: ContactFilter,
    page?: { pageSize?: number; skipToken?: string },
  ): Promise<SearchContactsResult>
  getDirectoryContact(directoryId: string, contactId: string): Promise<DirectoryContact>
  updateDirectoryContact(directoryId: string, contactId: string, contact: ContactFields): Promise<void>
  createContactInMailingList(
    directoryId: string,
    mailingListId: string,
    contact: ContactFields,
  ): Promise<{ id: string; contactLookupId?: string }>
  /** Many transactions in one request, keyed by caller-chosen (idempotent) keys. */
  createContactTransactions(
    directoryId: string,
    transactions: Record<string, ContactTransaction>,
  ): Promise<CreateTransactionsResult>
  /** POSTs a JSON event to an Xflow JSON-event trigger URL; the URL must pass the host check. */
  triggerWorkflow(workflowUrl: string, payload: Record<string, unknown>): Promise<{ status: number }>
}

/** A transaction as Qualtrics lists it for a contact (`GET …/contacts/{contactId}/transactions`). */
export interface ListedContactTransaction {
  /** `CTR_…` (Qualtrics spells it `transactionId` or `id`). */
  id: string
  contactId?: string
  mailingListId?: string
  /** As Qualtrics returns it (`YYYY-MM-DD HH:MM:SS` UTC is what is sent; epoch ms are read as ISO). */
  transactionDate?: string
  /**
   * The key the transaction was created under, when a lister knows it. No published answer carries it
   * (spec §2.7); the re-send check compares it only when present.
   */
  key?: string
  data?: Record<string, string | number | boolean>
}

/**
 * What createQualtricsClient returns: the contract above plus optional capabilities the delivery
 * engine uses when present (added after the contract; additive).
 */
export interface QualtricsClient extends QualtricsApi {
  /** Every transaction of a contact, all pages followed. */
  listContactTransactions(directoryId: string, contactId: string): Promise<ListedContactTransaction[]>
  /** One page of a directory's contacts (`GET …/contacts`, spec §2.5). */
  listDirectoryContacts(directoryId: string, page?: { pageSize?: number }): Promise<DirectoryContact[]>
  /** One mailing list (`GET …/mailinglists/{id}`, spec §2.6); a 404 rejects with a QualtricsApiError. */
  getMailingList(directoryId: string, mailingListId: string): Promise<{ id: string; name?: string }>
}
