// Records the sandbox keeps, and the shapes it shows through `inspect()` and `/__sandbox/state`.

export type Scalar = string | number | boolean

/** Contact fields a merge rule can use. */
export type MergeField = 'firstName' | 'lastName' | 'email' | 'phone' | 'extRef'
export const MERGE_FIELDS: readonly MergeField[] = ['firstName', 'lastName', 'email', 'phone', 'extRef']

/** One merge (identity-resolution) rule: every listed field must match, case-insensitively. */
export type MergeRule = MergeField[]

export interface UserRecord {
  token: string
  userId: string
  userName: string
  brandId: string
  accountType: string
  firstName: string
  lastName: string
  email: string
}

export interface DirectoryRecord {
  id: string
  name: string
  isDefault: boolean
  /** Up to 3 rules, tried in order. Empty: no deduplication, every create adds a contact. */
  mergeRules: MergeRule[]
  creationDate: string
}

/** How a contact came to be: API create, seed, a mailing-list create, or a fault (duplicate match). */
export type ContactOrigin = 'api' | 'seed' | 'mailing-list' | 'fault'

export interface ContactRecord {
  id: string
  directoryId: string
  firstName?: string
  lastName?: string
  email?: string
  phone?: string
  extRef?: string
  language?: string
  unsubscribed: boolean
  embeddedData: Record<string, Scalar>
  creationDate: string
  lastModified: string
  origin: ContactOrigin
  /** How many creates were merged into this contact by a merge rule. */
  mergeCount: number
  /** Ids answered for merged creates when `mergeMatchId` is `'new'` (they do not resolve). */
  mergedIds: string[]
}

export interface MailingListRecord {
  id: string
  directoryId: string
  name: string
  ownerId: string
  creationDate: string
  lastModifiedDate: string
  /** contactId → contactLookupId (`CGC_…`). */
  members: Record<string, string>
}

export interface TransactionRecord {
  id: string
  directoryId: string
  /** The client-chosen key it was posted under (may be `""`). Keys may repeat: duplicates are kept. */
  key: string
  contactId: string
  mailingListId: string
  transactionDate: string
  data: Record<string, Scalar>
  createdAt: string
  requestId: string
}

export interface TransactionBatchRecord {
  id: string
  directoryId: string
  creationDate: string
  transactionIds: string[]
}

/** `none`: anyone may post; `token`: an X-API-TOKEN header or Basic `userName:token` is required. */
export type WorkflowAuth = 'none' | 'token'

export interface WorkflowRecord {
  urlTokenId: string
  name: string
  auth: WorkflowAuth
  /** Legacy trigger URLs (`…/JSON/triggers?contextId&userId&brandId&triggerId=OC_…`) find it by this. */
  triggerId?: string
}

export interface WorkflowRunRecord {
  id: string
  urlTokenId: string
  workflowName: string
  receivedAt: string
  /** How the caller authenticated. */
  auth: 'none' | 'token' | 'basic'
  query: Record<string, string>
  payload: unknown
  requestId: string
}

export interface RequestLogEntry {
  seq: number
  time: string
  method: string
  path: string
  query: string
  /** Route name (`createContact`, `searchContacts`, …) or null for unknown routes. */
  route: string | null
  status: number
  ms: number
  requestId: string
  /** The fault kind applied to this request, if any. */
  fault?: string
  rateLimited?: boolean
}

/** Everything the sandbox holds; also the persisted file's `state`. */
export interface SandboxState {
  datacenter: string
  brandId: string
  users: UserRecord[]
  directories: DirectoryRecord[]
  contacts: ContactRecord[]
  mailingLists: MailingListRecord[]
  transactions: TransactionRecord[]
  transactionBatches: TransactionBatchRecord[]
  workflows: WorkflowRecord[]
  workflowRuns: WorkflowRunRecord[]
}
