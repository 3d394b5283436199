// A hand-written in-memory QualtricsApi for the engine's scheduling unit tests (retry timing, limiter,
// single flight, batching). Behaviour end to end is tested against the sandbox through the real client
// in *.integration.test.ts.

import type { DeliveryItem, TransactionPayload } from '../../src/actions/payloads'
import { NetworkError, QualtricsApiError, TimeoutError } from '../../src/server/qualtrics/errors'
import type {
  ContactFields,
  ContactFilter,
  ContactTransaction,
  CreateTransactionsResult,
  DirectoryContact,
  QualtricsApi,
  SearchContactsResult,
} from '../../src/server/qualtrics/types'
import type { ListedTransaction } from '../../src/server/delivery/options'
import type { Clock } from '../../src/server/delivery/clock'

export type FakeEndpoint =
  | 'createDirectoryContact'
  | 'searchDirectoryContacts'
  | 'createContactTransactions'
  | 'listContactTransactions'
  | 'triggerWorkflow'

export interface FakeCall {
  endpoint: FakeEndpoint
  at: number
  args: unknown[]
}

/** A scripted failure: thrown instead of (or, with `afterWrite`, after) doing the work. */
interface Script {
  endpoint: FakeEndpoint
  error: () => Error
  times: number
  afterWrite: boolean
}

export interface FakeQualtrics extends QualtricsApi {
  listContactTransactions(directoryId: string, contactId: string): Promise<ListedTransaction[]>
  calls: FakeCall[]
  contacts: (DirectoryContact & { directoryId: string })[]
  transactions: (ContactTransaction & { id: string; key: string; directoryId: string })[]
  workflowRuns: { url: string; payload: Record<string, unknown> }[]
  /** Fails the next `times` calls of `endpoint`. */
  failNext(
    endpoint: FakeEndpoint,
    error: () => Error,
    options?: { times?: number; afterWrite?: boolean },
  ): void
  /** Reports these keys (or the last `count` keys of the next request) as unprocessed. */
  unprocessNext(count: number, times?: number): void
  /** Refuse `or` filters with a 400. */
  refuseOr: boolean
  /** Answer `or` filters with no elements (a server that ignores or misreads the conjunction). */
  emptyOr: boolean
  /** How listed transactions show their date and key: as sent (default), or ISO-8601 with the key. */
  listing: 'as-sent' | 'iso-with-key'
  /** Report transactions for contacts it does not have as unprocessed. */
  requireKnownContacts: boolean
  /** Qualtrics down: every call before `until` (clock time) fails with the next of `errors`, in turn. */
  outage: { until: number; errors: (() => Error)[] } | undefined
  count(endpoint: FakeEndpoint): number
}

export function http(status: number, retryAfterMs?: number): () => QualtricsApiError {
  return () =>
    new QualtricsApiError({
      status,
      statusText: status === 429 ? 'Too Many Requests' : 'Error',
      method: 'POST',
      path: '/API/v3/directories/POOL_1/transactions',
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    })
}

export function networkError(): NetworkError {
  return new NetworkError({
    method: 'POST',
    path: '/API/v3/directories/POOL_1/transactions',
    origin: 'https://iad1.qualtrics.com',
    reason: 'connect ECONNREFUSED',
  })
}

export function timeout(): TimeoutError {
  return new TimeoutError({
    method: 'POST',
    path: '/API/v3/directories/POOL_1/transactions',
    timeoutMs: 10_000,
  })
}

function matches(filter: ContactFilter, contact: DirectoryContact): boolean {
  if ('conjunction' in filter) {
    return filter.conjunction === 'and'
      ? filter.filters.every((f) => matches(f, contact))
      : filter.filters.some((f) => matches(f, contact))
  }
  const value = contact[filter.filterType]
  return typeof value === 'string' && value.toLowerCase() === filter.value.toLowerCase()
}

export function createFakeQualtrics(clock: Clock): FakeQualtrics {
  let seq = 0
  const scripts: Script[] = []
  let outageCalls = 0
  let unprocessed: { count: number; times: number } | undefined
  const fake: FakeQualtrics = {
    calls: [],
    contacts: [],
    transactions: [],
    workflowRuns: [],
    refuseOr: false,
    emptyOr: false,
    listing: 'as-sent',
    requireKnownContacts: false,
    outage: undefined,
    failNext(endpoint, error, options = {}) {
      scripts.push({ endpoint, error, times: options.times ?? 1, afterWrite: options.afterWrite ?? false })
    },
    unprocessNext(count, times = 1) {
      unprocessed = { count, times }
    },
    count: (endpoint) => fake.calls.filter((c) => c.endpoint === endpoint).length,

    async whoami() {
      return { userId: 'UR_1', userName: 'fake', brandId: 'fake' }
    },
    async listDirectories() {
      return []
    },
    async createDirectoryContact(directoryId: string, contact: ContactFields) {
      return run('createDirectoryContact', [directoryId, contact], () => {
        const now = new Date(clock.now()).toISOString()
        const id = `CID_${String(++seq).padStart(15, '0')}`
        fake.contacts.push({ ...contact, id, directoryId, creationDate: now, lastModified: now })
        return { id }
      })
    },
    async searchDirectoryContacts(directoryId: string, filter: ContactFilter): Promise<SearchContactsResult> {
      return run('searchDirectoryContacts', [directoryId, filter], () => {
        const isOr = 'conjunction' in filter && filter.conjunction === 'or'
        if (fake.refuseOr && isOr) throw http(400)()
        if (fake.emptyOr && isOr) return { contacts: [] }
        return {
          contacts: fake.contacts
            .filter((c) => c.directoryId === directoryId && matches(filter, c))
            .map(({ directoryId: _d, ...c }) => c),
        }
      })
    },
    async getDirectoryContact(_directoryId: string, contactId: string) {
      const c = fake.contacts.find((x) => x.id === contactId)
      if (c === undefined) throw http(404)()
      return c
    },
    async updateDirectoryContact() {},
    async createContactInMailingList() {
      return { id: 'CID_x' }
    },
    async createContactTransactions(directoryId: string, transactions: Record<string, ContactTransaction>) {
      return run('createContactTransactions', [directoryId, transactions], (): CreateTransactionsResult => {
        const keys = Object.keys(transactions)
        const skip = new Set<string>()
        if (unprocessed !== undefined && unprocessed.times > 0) {
          unprocessed.times--
          for (const key of keys.slice(-unprocessed.count)) skip.add(key)
        }
        const result: CreateTransactionsResult = { created: {}, unprocessed: {} }
        for (const key of keys) {
          if (skip.has(key)) {
            result.unprocessed[key] = { errorCode: 'NOT_PROCESSED', errorMessage: 'try again' }
            continue
          }
          const t = transactions[key]!
          if (fake.requireKnownContacts && !fake.contacts.some((c) => c.id === t.contactId)) {
            result.unprocessed[key] = { errorCode: 'CONTACT_NOT_FOUND', errorMessage: 'no such contact' }
            continue
          }
          const id = `CTR_${String(++seq).padStart(15, '0')}`
          fake.transactions.push({ ...t, id, key, directoryId })
          result.created[key] = id
        }
        return result
      })
    },
    async listContactTransactions(directoryId: string, contactId: string) {
      return run('listContactTransactions', [directoryId, contactId], () =>
        fake.transactions
          .filter((t) => t.directoryId === directoryId && t.contactId === contactId)
          .map((t) => ({
            id: t.id,
            mailingListId: t.mailingListId,
            data: t.data,
            ...(fake.listing === 'as-sent'
              ? { transactionDate: t.transactionDate }
              : { transactionDate: `${t.transactionDate.replace(' ', 'T')}.000Z`, key: t.key }),
          })),
      )
    },
    async triggerWorkflow(url: string, payload: Record<string, unknown>) {
      return run('triggerWorkflow', [url, payload], () => {
        fake.workflowRuns.push({ url, payload })
        return { status: 202 }
      })
    },
  }

  async function run<T>(endpoint: FakeEndpoint, args: unknown[], work: () => T): Promise<T> {
    fake.calls.push({ endpoint, at: clock.now(), args })
    await Promise.resolve()
    const outage = fake.outage
    if (outage !== undefined && clock.now() < outage.until) {
      const error = outage.errors[outageCalls++ % outage.errors.length]
      if (error !== undefined) throw error()
    }
    const script = scripts.find((s) => s.endpoint === endpoint && s.times > 0)
    if (script !== undefined) {
      script.times--
      if (script.afterWrite) work()
      throw script.error()
    }
    return work()
  }

  return fake
}

let counter = 0

export function transactionItem(
  overrides: Partial<TransactionPayload> & { user?: string; messageId?: string; mappingId?: string } = {},
): DeliveryItem {
  const { user = 'u1', messageId = `msg-${++counter}`, mappingId = 'm-tx', ...payload } = overrides
  return {
    messageId,
    mappingId,
    action: 'upsertContactTransaction',
    payload: {
      directoryId: 'POOL_1',
      mailingListId: 'CG_1',
      extRef: user,
      email: `${user}@example.com`,
      transactionDate: '2024-05-01 10:00:00',
      transactionData: { amount: 10, sku: 'A' },
      ...payload,
    },
  }
}

export function contactItem(user = 'u1', messageId = `msg-${++counter}`): DeliveryItem {
  return {
    messageId,
    mappingId: 'm-contact',
    action: 'addContactToXmd',
    payload: {
      directoryId: 'POOL_1',
      extRef: user,
      email: `${user}@example.com`,
      firstName: 'Jane',
      language: 'EN',
    },
  }
}

export function workflowItem(
  url = 'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=abc',
): DeliveryItem {
  return {
    messageId: `msg-${++counter}`,
    mappingId: 'm-wf',
    action: 'triggerXflowWorkflow',
    payload: { workflowUrl: url, eventPayload: { event: 'Signed Up' } },
  }
}
