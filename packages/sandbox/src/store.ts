// The in-memory state, indexed for lookups. Every mutation bumps `version`, which drives persistence.

import { ContactMap } from './merge-index'
import type {
  ContactRecord,
  DirectoryRecord,
  MailingListRecord,
  SandboxState,
  TransactionBatchRecord,
  TransactionRecord,
  UserRecord,
  WorkflowRecord,
  WorkflowRunRecord,
} from './types'

export interface Store {
  datacenter: string
  brandId: string
  readonly users: Map<string, UserRecord>
  readonly directories: Map<string, DirectoryRecord>
  /** Indexed by merge-rule keys; call `contacts.reindex` after changing a contact's fields. */
  readonly contacts: ContactMap
  readonly mailingLists: Map<string, MailingListRecord>
  readonly transactions: Map<string, TransactionRecord>
  readonly batches: Map<string, TransactionBatchRecord>
  /** Keyed by the lower-cased urlTokenId. */
  readonly workflows: Map<string, WorkflowRecord>
  readonly workflowRuns: WorkflowRunRecord[]
  version: number
  touch(): void
  /** Whether any record of any kind already uses (or used) this id. */
  idTaken(id: string): boolean
  /** Remembers an id so it is never issued twice. */
  reserve(id: string): string
  contactsOf(directoryId: string): ContactRecord[]
  toState(): SandboxState
}

export function createStore(state?: SandboxState): Store {
  const issued = new Set<string>()
  const store: Store = {
    datacenter: state?.datacenter ?? 'sbx1',
    brandId: state?.brandId ?? 'sandbox',
    users: new Map(),
    directories: new Map(),
    contacts: new ContactMap(),
    mailingLists: new Map(),
    transactions: new Map(),
    batches: new Map(),
    workflows: new Map(),
    workflowRuns: [],
    version: 0,
    touch() {
      store.version += 1
    },
    idTaken: (id) => issued.has(id),
    reserve(id) {
      issued.add(id)
      return id
    },
    contactsOf(directoryId) {
      const out: ContactRecord[] = []
      for (const contact of store.contacts.values())
        if (contact.directoryId === directoryId) out.push(contact)
      return out
    },
    toState() {
      return structuredClone({
        datacenter: store.datacenter,
        brandId: store.brandId,
        users: [...store.users.values()],
        directories: [...store.directories.values()],
        contacts: [...store.contacts.values()],
        mailingLists: [...store.mailingLists.values()],
        transactions: [...store.transactions.values()],
        transactionBatches: [...store.batches.values()],
        workflows: [...store.workflows.values()],
        workflowRuns: store.workflowRuns,
      })
    },
  }
  if (state) {
    for (const u of state.users) store.users.set(u.token, structuredClone(u))
    for (const d of state.directories) store.directories.set(d.id, structuredClone(d))
    for (const c of state.contacts) store.contacts.set(c.id, structuredClone(c))
    for (const l of state.mailingLists) store.mailingLists.set(l.id, structuredClone(l))
    for (const t of state.transactions) store.transactions.set(t.id, structuredClone(t))
    for (const b of state.transactionBatches) store.batches.set(b.id, structuredClone(b))
    for (const w of state.workflows) store.workflows.set(w.urlTokenId.toLowerCase(), structuredClone(w))
    store.workflowRuns.push(...structuredClone(state.workflowRuns))
    for (const id of [
      ...store.directories.keys(),
      ...store.mailingLists.keys(),
      ...store.transactions.keys(),
    ]) {
      issued.add(id)
    }
    for (const id of store.batches.keys()) issued.add(id)
    for (const contact of store.contacts.values()) {
      issued.add(contact.id)
      for (const merged of contact.mergedIds) issued.add(merged)
    }
    for (const list of store.mailingLists.values())
      for (const lookup of Object.values(list.members)) issued.add(lookup)
  }
  return store
}
