// Handlers of the Qualtrics REST routes. Each takes a prepared context (authenticated user, parsed
// body, route params) and returns the `result` to wrap, or throws an ApiError.

import type { ResolvedBehaviour } from './behaviour'
import { Issues, isQualtricsDateTime, isRecord } from './check'
import { isoSeconds } from './clock'
import {
  applyContactInput,
  findMergeMatch,
  newContactRecord,
  readContactFields,
  readScalarMap,
  type ContactInput,
} from './contact-model'
import { describeValue } from './errors'
import { ApiError } from './envelope'
import type { FaultRule } from './faults'
import type { IdFactory } from './ids'
import type { RouteName } from './routes'
import {
  FilterError,
  decodeSkipToken,
  encodeSkipToken,
  equalityValues,
  matchesFilter,
  parseFilter,
} from './search'
import { detailView, listView, mailingListMemberView, searchView, transactionView } from './views'
import type { Store } from './store'
import type {
  ContactRecord,
  DirectoryRecord,
  MailingListRecord,
  Scalar,
  TransactionBatchRecord,
  TransactionRecord,
  UserRecord,
} from './types'

export interface ApiContext {
  store: Store
  behaviour: ResolvedBehaviour
  ids: IdFactory
  now: () => number
  requestId: string
  user: UserRecord
  params: Record<string, string>
  query: URLSearchParams
  body: unknown
  pathname: string
  /** `scheme://host` the client used, for `nextPage` links. */
  origin: string
  /** A route-specific fault (duplicate-search-match, partial-unprocessed) to act out. */
  fault?: FaultRule
}

export interface ApiResult {
  status?: number
  /** Omitted: the answer carries `meta` only (as Update Contact Transaction does). */
  result?: unknown
}

type Handler = (ctx: ApiContext) => ApiResult

const badRequest = (message: string, code = 'INVALID_PARAMETER'): ApiError => new ApiError(400, code, message)
const notFound = (what: string, id: string): ApiError =>
  new ApiError(404, 'NOT_FOUND', `${what} not found (Received: ${JSON.stringify(id)})`)

function directoryOf(ctx: ApiContext): DirectoryRecord {
  const id = ctx.params['directoryId'] ?? ''
  const directory = ctx.store.directories.get(id)
  if (!directory) throw notFound('Directory', id)
  return directory
}

function contactOf(ctx: ApiContext, directory: DirectoryRecord): ContactRecord {
  const id = ctx.params['contactId'] ?? ''
  const contact = ctx.store.contacts.get(id)
  if (!contact || contact.directoryId !== directory.id) throw notFound('Contact', id)
  return contact
}

function mailingListOf(ctx: ApiContext, directory: DirectoryRecord): MailingListRecord {
  const id = ctx.params['mailingListId'] ?? ''
  const list = ctx.store.mailingLists.get(id)
  if (!list || list.directoryId !== directory.id) throw notFound('Mailing list', id)
  return list
}

function transactionOf(ctx: ApiContext, directory: DirectoryRecord): TransactionRecord {
  const id = ctx.params['transactionId'] ?? ''
  const transaction = ctx.store.transactions.get(id)
  if (!transaction || transaction.directoryId !== directory.id) throw notFound('Transaction', id)
  return transaction
}

function batchOf(ctx: ApiContext, directory: DirectoryRecord): TransactionBatchRecord {
  const id = ctx.params['batchId'] ?? ''
  const batch = ctx.store.batches.get(id)
  if (!batch || batch.directoryId !== directory.id) throw notFound('Transaction batch', id)
  return batch
}

function bodyObject(ctx: ApiContext): Record<string, unknown> {
  if (!isRecord(ctx.body))
    throw badRequest(`Request body must be a JSON object (Received: ${describeValue(ctx.body)})`)
  return ctx.body
}

function coerce(data: Record<string, Scalar>, behaviour: ResolvedBehaviour): Record<string, Scalar> {
  if (!behaviour.coerceDataToStrings) return data
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, String(v)]))
}

/**
 * A contact create/update body. Published dialect: embedded data is kept as strings (the definition
 * types it string → string wherever it is read back), and the mailing-list create, whose request
 * schema takes only strings, refuses other values.
 */
function readContactBody(ctx: ApiContext, embedded: 'any' | 'strings' = 'any'): ContactInput {
  const issues = new Issues()
  const input = readContactFields(ctx.body ?? {}, 'body', issues)
  const published = ctx.behaviour.dialect === 'published'
  if (published && embedded === 'strings' && input.embeddedData) {
    for (const [name, value] of Object.entries(input.embeddedData)) {
      if (typeof value !== 'string')
        issues.add(
          `body.embeddedData.${name}`,
          'must be a string (Qualtrics takes string values here)',
          value,
        )
    }
  }
  if (!issues.empty) throw badRequest(issues.list.join('; '))
  if (input.embeddedData) {
    input.embeddedData = published
      ? Object.fromEntries(Object.entries(input.embeddedData).map(([k, v]) => [k, String(v)]))
      : coerce(input.embeddedData, ctx.behaviour)
  }
  return input
}

// ---------------------------------------------------------------------------------------------
// Pagination: `pageSize` (1..maxPageSize, default 100) and `skipToken` (base64 of the offset).

interface Page<T> {
  elements: T[]
  offset: number
  pageSize: number
  nextOffset: number | undefined
}

function readPage<T>(ctx: ApiContext, items: readonly T[], depthLimit?: number): Page<T> {
  const max = ctx.behaviour.maxPageSize
  const rawSize = ctx.query.get('pageSize')
  const pageSize = rawSize === null ? Math.min(100, max) : Number(rawSize)
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > max) {
    throw badRequest(`pageSize must be an integer from 1 to ${max} (Received: ${JSON.stringify(rawSize)})`)
  }
  const token = ctx.query.get('skipToken')
  let offset = 0
  if (token !== null && token !== '') {
    const decoded = decodeSkipToken(token)
    if (decoded === undefined) throw badRequest(`skipToken is not valid (Received: ${JSON.stringify(token)})`)
    offset = decoded
  }
  if (depthLimit !== undefined && offset >= depthLimit) {
    throw badRequest(
      `Search results are limited to the first ${depthLimit} contacts; use a contact export for more (Received: skipToken offset ${offset})`,
      'SEARCH_DEPTH_LIMIT',
    )
  }
  const end = Math.min(offset + pageSize, depthLimit ?? Number.MAX_SAFE_INTEGER)
  const elements = items.slice(offset, end)
  // A full page is always followed by a link, so an exact multiple ends with an empty page.
  const nextOffset = elements.length === pageSize ? offset + pageSize : undefined
  return { elements, offset, pageSize, nextOffset }
}

function nextPageUrl(ctx: ApiContext, nextOffset: number | undefined): string | null {
  if (nextOffset === undefined) return null
  const params = new URLSearchParams(ctx.query)
  params.set('skipToken', encodeSkipToken(nextOffset))
  return `${ctx.origin}${ctx.pathname}?${params.toString()}`
}

function paged<T, V>(
  ctx: ApiContext,
  items: readonly T[],
  view: (item: T) => V,
): { elements: V[]; nextPage: string | null } {
  const page = readPage(ctx, items)
  return { elements: page.elements.map(view), nextPage: nextPageUrl(ctx, page.nextOffset) }
}

// ---------------------------------------------------------------------------------------------
// Contact creation shared by the directory and the mailing-list variants.

interface CreatedContact {
  contact: ContactRecord
  /** The id to answer (differs from contact.id for a merge with `mergeMatchId: 'new'`). */
  answeredId: string
}

function createOrMerge(
  ctx: ApiContext,
  directory: DirectoryRecord,
  input: ContactInput,
  origin: ContactRecord['origin'],
): CreatedContact {
  const { store, ids } = ctx
  const now = isoSeconds(ctx.now())
  const newId = (prefix: string): string => store.reserve(ids.id(prefix, (id) => store.idTaken(id)))
  const match = findMergeMatch(directory.mergeRules, input, (rule) =>
    store.contacts.oldestMatch(directory.id, rule, input),
  )
  if (match) {
    const { contact } = match
    applyContactInput(
      contact,
      input,
      { overwriteBlank: ctx.behaviour.overwriteBlank, embeddedData: ctx.behaviour.embeddedDataUpdate },
      now,
    )
    store.contacts.reindex(contact)
    contact.mergeCount += 1
    let answeredId = contact.id
    if (ctx.behaviour.mergeMatchId === 'new') {
      answeredId = newId('CID_')
      contact.mergedIds.push(answeredId)
    }
    store.touch()
    return { contact, answeredId }
  }
  const contact = newContactRecord(newId('CID_'), directory, input, origin, now)
  store.contacts.set(contact.id, contact)
  store.touch()
  return { contact, answeredId: contact.id }
}

// ---------------------------------------------------------------------------------------------
// Transactions.

interface TransactionItem {
  contactId: string
  mailingListId: string
  transactionDate: string
  data: Record<string, Scalar>
}

type ItemCheck = { ok: true; item: TransactionItem } | { ok: false; error: string; errorMessage: string }

function checkTransactionItem(
  ctx: ApiContext,
  directory: DirectoryRecord,
  key: string,
  raw: unknown,
): ItemCheck {
  const where = `transaction ${JSON.stringify(key)}`
  if (!isRecord(raw)) {
    return {
      ok: false,
      error: 'INVALID_TRANSACTION',
      errorMessage: `${where} must be an object (Received: ${describeValue(raw)})`,
    }
  }
  const { contactId, mailingListId, transactionDate } = raw
  if (typeof contactId !== 'string' || contactId === '') {
    return {
      ok: false,
      error: 'INVALID_CONTACT_ID',
      errorMessage: `${where}: contactId must be a contact id (Received: ${describeValue(contactId)})`,
    }
  }
  const contact = ctx.store.contacts.get(contactId)
  if (!contact || contact.directoryId !== directory.id) {
    return {
      ok: false,
      error: 'CONTACT_NOT_FOUND',
      errorMessage: `${where}: contact not found in directory ${directory.id} (Received: ${JSON.stringify(contactId)})`,
    }
  }
  if (typeof mailingListId !== 'string' || mailingListId === '') {
    return {
      ok: false,
      error: 'INVALID_MAILING_LIST_ID',
      errorMessage: `${where}: mailingListId must be a mailing list id (Received: ${describeValue(mailingListId)})`,
    }
  }
  const list = ctx.store.mailingLists.get(mailingListId)
  if (!list || list.directoryId !== directory.id) {
    return {
      ok: false,
      error: 'MAILING_LIST_NOT_FOUND',
      errorMessage: `${where}: mailing list not found in directory ${directory.id} (Received: ${JSON.stringify(mailingListId)})`,
    }
  }
  if (ctx.behaviour.requireListMembership && list.members[contactId] === undefined) {
    return {
      ok: false,
      error: 'CONTACT_NOT_IN_MAILING_LIST',
      errorMessage: `${where}: contact ${contactId} is not a member of ${mailingListId}`,
    }
  }
  if (!isQualtricsDateTime(transactionDate)) {
    return {
      ok: false,
      error: 'INVALID_TRANSACTION_DATE',
      errorMessage: `${where}: transactionDate must be "YYYY-MM-DD HH:MM:SS" in 24-hour UTC (Received: ${describeValue(transactionDate)})`,
    }
  }
  const issues = new Issues()
  const data = raw['data'] === undefined ? {} : readScalarMap(raw['data'], `${where}.data`, issues)
  if (!data || !issues.empty) {
    return { ok: false, error: 'INVALID_TRANSACTION_DATA', errorMessage: issues.list.join('; ') }
  }
  return { ok: true, item: { contactId, mailingListId, transactionDate, data: coerce(data, ctx.behaviour) } }
}

function readTransactionIds(value: unknown, ctx: ApiContext, directory: DirectoryRecord): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value))
    throw badRequest(`transactionIds must be an array (Received: ${describeValue(value)})`)
  return value.map((id, i) => {
    const t = typeof id === 'string' ? ctx.store.transactions.get(id) : undefined
    if (!t || t.directoryId !== directory.id) {
      throw badRequest(
        `transactionIds[${i}]: transaction not found in directory ${directory.id} (Received: ${describeValue(id)})`,
      )
    }
    return t.id
  })
}

// ---------------------------------------------------------------------------------------------

export const API_HANDLERS: Record<Exclude<RouteName, 'triggerWorkflow'>, Handler> = {
  whoami: (ctx) => {
    const u = ctx.user
    return {
      result: {
        brandId: u.brandId,
        userId: u.userId,
        userName: u.userName,
        accountType: u.accountType,
        firstName: u.firstName,
        lastName: u.lastName,
        email: u.email,
        datacenter: ctx.store.datacenter,
      },
    }
  },

  listDirectories: (ctx) => {
    const directories = [...ctx.store.directories.values()]
    return {
      result: paged(ctx, directories, (d) => {
        const used = new Set(d.mergeRules.flat())
        return {
          directoryId: d.id,
          name: d.name,
          contactCount: ctx.store.contactsOf(d.id).length,
          isDefault: d.isDefault,
          deduplicationCriteria: {
            email: used.has('email'),
            firstName: used.has('firstName'),
            lastName: used.has('lastName'),
            externalDataReference: used.has('extRef'),
            phone: used.has('phone'),
          },
        }
      }),
    }
  },

  listContacts: (ctx) => {
    const directory = directoryOf(ctx)
    return { result: paged(ctx, ctx.store.contactsOf(directory.id), listView) }
  },

  createContact: (ctx) => {
    const directory = directoryOf(ctx)
    const created = createOrMerge(ctx, directory, readContactBody(ctx), 'api')
    return { result: { id: created.answeredId } }
  },

  searchContacts: (ctx) => {
    const directory = directoryOf(ctx)
    const body = bodyObject(ctx)
    const dialect = ctx.behaviour.dialect
    let filter
    try {
      filter = parseFilter(body['filter'], dialect)
    } catch (error) {
      if (error instanceof FilterError) throw badRequest(error.message)
      throw error
    }
    const match = {
      caseSensitive: ctx.behaviour.searchCaseSensitive,
      isMember: (contactId: string, listId: string) =>
        ctx.store.mailingLists.get(listId)?.members[contactId] !== undefined,
    }
    let matches = ctx.store.contactsOf(directory.id).filter((c) => matchesFilter(c, filter, match))
    if (ctx.fault?.kind === 'duplicate-search-match') {
      const want = ctx.fault.count ?? 2
      const now = isoSeconds(ctx.now())
      const template: ContactInput = matches[0] ?? equalityValues(filter)
      while (matches.length < want) {
        const id = ctx.store.reserve(ctx.ids.id('CID_', (x) => ctx.store.idTaken(x)))
        const copy = newContactRecord(id, directory, template, 'fault', now)
        if (matches[0]) copy.embeddedData = { ...matches[0].embeddedData }
        ctx.store.contacts.set(id, copy)
        matches = [...matches, copy]
      }
      ctx.store.touch()
    }
    const page = readPage(ctx, matches, ctx.behaviour.searchDepthLimit)
    const includeEmbedded = ctx.query.get('includeEmbedded') === 'true'
    const result: Record<string, unknown> = {
      elements: page.elements.map((c) => searchView(c, includeEmbedded, dialect)),
    }
    const mode = ctx.behaviour.searchNextPage
    if (mode === 'url' || mode === 'both') result['nextPage'] = nextPageUrl(ctx, page.nextOffset)
    if ((mode === 'skipToken' || mode === 'both') && page.nextOffset !== undefined)
      result['skipToken'] = encodeSkipToken(page.nextOffset)
    return { result }
  },

  getContact: (ctx) => {
    const directory = directoryOf(ctx)
    const lists = [...ctx.store.mailingLists.values()]
    return { result: detailView(contactOf(ctx, directory), lists, ctx.behaviour.dialect) }
  },

  updateContact: (ctx) => {
    const directory = directoryOf(ctx)
    const contact = contactOf(ctx, directory)
    bodyObject(ctx)
    const input = readContactBody(ctx)
    applyContactInput(
      contact,
      input,
      { overwriteBlank: ctx.behaviour.overwriteBlank, embeddedData: ctx.behaviour.embeddedDataUpdate },
      isoSeconds(ctx.now()),
    )
    ctx.store.contacts.reindex(contact)
    ctx.store.touch()
    return {}
  },

  listContactTransactions: (ctx) => {
    const directory = directoryOf(ctx)
    const contact = contactOf(ctx, directory)
    const items = [...ctx.store.transactions.values()].filter(
      (t) => t.contactId === contact.id && t.directoryId === directory.id,
    )
    return { result: paged(ctx, items, transactionView) }
  },

  listMailingLists: (ctx) => {
    const directory = directoryOf(ctx)
    const lists = [...ctx.store.mailingLists.values()].filter((l) => l.directoryId === directory.id)
    return {
      result: paged(ctx, lists, (l) => ({
        mailingListId: l.id,
        name: l.name,
        ownerId: l.ownerId,
        creationDate: l.creationDate,
        lastModifiedDate: l.lastModifiedDate,
        contactCount: Object.keys(l.members).length,
      })),
    }
  },

  createMailingList: (ctx) => {
    const directory = directoryOf(ctx)
    const body = bodyObject(ctx)
    const name = body['name']
    if (typeof name !== 'string' || name.trim() === '' || name.length > 100) {
      throw badRequest(`name must be a string of 1 to 100 characters (Received: ${describeValue(name)})`)
    }
    const ownerId = typeof body['ownerId'] === 'string' ? body['ownerId'] : ctx.user.userId
    const now = isoSeconds(ctx.now())
    const id = ctx.store.reserve(ctx.ids.id('CG_', (x) => ctx.store.idTaken(x)))
    ctx.store.mailingLists.set(id, {
      id,
      directoryId: directory.id,
      name,
      ownerId,
      creationDate: now,
      lastModifiedDate: now,
      members: {},
    })
    ctx.store.touch()
    return { result: { id } }
  },

  getMailingList: (ctx) => {
    const directory = directoryOf(ctx)
    const l = mailingListOf(ctx, directory)
    return {
      result: {
        mailingListId: l.id,
        name: l.name,
        ownerId: l.ownerId,
        creationDate: l.creationDate,
        lastModifiedDate: l.lastModifiedDate,
        contactCount: Object.keys(l.members).length,
      },
    }
  },

  listMailingListContacts: (ctx) => {
    const directory = directoryOf(ctx)
    const list = mailingListOf(ctx, directory)
    const members = Object.entries(list.members).flatMap(([contactId, lookupId]) => {
      const contact = ctx.store.contacts.get(contactId)
      return contact ? [{ contact, lookupId }] : []
    })
    return {
      result: paged(ctx, members, ({ contact, lookupId }) =>
        mailingListMemberView(contact, lookupId, ctx.behaviour.dialect),
      ),
    }
  },

  createMailingListContact: (ctx) => {
    const directory = directoryOf(ctx)
    const list = mailingListOf(ctx, directory)
    const created = createOrMerge(ctx, directory, readContactBody(ctx, 'strings'), 'mailing-list')
    const contactId = created.contact.id
    const lookupId =
      list.members[contactId] ?? ctx.store.reserve(ctx.ids.id('CGC_', (x) => ctx.store.idTaken(x)))
    list.members[contactId] = lookupId
    list.lastModifiedDate = isoSeconds(ctx.now())
    ctx.store.touch()
    return { result: { id: created.answeredId, contactLookupId: lookupId } }
  },

  createTransactions: (ctx) => {
    const directory = directoryOf(ctx)
    const body = bodyObject(ctx)
    const entries = Object.entries(body)
    if (entries.length === 0)
      throw badRequest('Request body must map at least one transaction key to a transaction')
    const max = ctx.behaviour.maxTransactionsPerRequest
    if (entries.length > max) {
      throw badRequest(`At most ${max} transactions may be created per request (Received: ${entries.length})`)
    }
    const unprocessed: Record<string, { error: string; errorMessage: string }> = {}
    const valid: Array<[string, TransactionItem]> = []
    for (const [key, raw] of entries) {
      const check = checkTransactionItem(ctx, directory, key, raw)
      if (check.ok) valid.push([key, check.item])
      else unprocessed[key] = { error: check.error, errorMessage: check.errorMessage }
    }
    if (ctx.fault?.kind === 'partial-unprocessed') {
      const dropped = valid.splice(Math.max(0, valid.length - (ctx.fault.count ?? 1)))
      for (const [key] of dropped) {
        unprocessed[key] = {
          error: ctx.fault.errorCode ?? 'TRANSACTION_NOT_PROCESSED',
          errorMessage:
            ctx.fault.errorMessage ?? 'The transaction could not be processed; it was not created.',
        }
      }
    }
    const created: Record<string, { id: string }> = {}
    const existingKeys =
      ctx.behaviour.duplicateTransactionKey === 'reject'
        ? new Set(
            [...ctx.store.transactions.values()]
              .filter((t) => t.directoryId === directory.id)
              .map((t) => t.key),
          )
        : undefined
    const now = isoSeconds(ctx.now())
    for (const [key, item] of valid) {
      if (existingKeys?.has(key)) {
        unprocessed[key] = {
          error: 'DUPLICATE_TRANSACTION_KEY',
          errorMessage: `transaction key ${JSON.stringify(key)} was already used in this directory`,
        }
        continue
      }
      const id = ctx.store.reserve(ctx.ids.id('CTR_', (x) => ctx.store.idTaken(x)))
      ctx.store.transactions.set(id, {
        id,
        directoryId: directory.id,
        key,
        ...item,
        createdAt: now,
        requestId: ctx.requestId,
      })
      created[key] = { id }
    }
    if (valid.length > 0) ctx.store.touch()
    return { result: { createdTransactions: created, unprocessedTransactions: unprocessed } }
  },

  getTransaction: (ctx) => {
    const directory = directoryOf(ctx)
    return { result: transactionView(transactionOf(ctx, directory)) }
  },

  updateTransaction: (ctx) => {
    const directory = directoryOf(ctx)
    const transaction = transactionOf(ctx, directory)
    const body = bodyObject(ctx)
    const date = body['transactionDate']
    if (date !== undefined && !isQualtricsDateTime(date)) {
      throw badRequest(
        `transactionDate must be "YYYY-MM-DD HH:MM:SS" in 24-hour UTC (Received: ${describeValue(date)})`,
      )
    }
    let data: Record<string, Scalar> | undefined
    if (body['data'] !== undefined) {
      const issues = new Issues()
      data = readScalarMap(body['data'], 'data', issues)
      if (!data || !issues.empty) throw badRequest(issues.list.join('; '))
    }
    if (date !== undefined) transaction.transactionDate = date
    // Qualtrics documents that the data given replaces all existing key/values.
    if (data !== undefined) transaction.data = coerce(data, ctx.behaviour)
    ctx.store.touch()
    return {}
  },

  listTransactionBatches: (ctx) => {
    const directory = directoryOf(ctx)
    const batches = [...ctx.store.batches.values()].filter((b) => b.directoryId === directory.id)
    return { result: paged(ctx, batches, (b) => ({ batchId: b.id, creationDate: b.creationDate })) }
  },

  createTransactionBatch: (ctx) => {
    const directory = directoryOf(ctx)
    const body = ctx.body === undefined ? {} : bodyObject(ctx)
    const creationDate = body['creationDate']
    if (creationDate !== undefined && !isQualtricsDateTime(creationDate)) {
      throw badRequest(
        `creationDate must be "YYYY-MM-DD HH:MM:SS" in 24-hour UTC (Received: ${describeValue(creationDate)})`,
      )
    }
    const transactionIds = readTransactionIds(body['transactionIds'], ctx, directory)
    const id = ctx.store.reserve(ctx.ids.id('BT_', (x) => ctx.store.idTaken(x)))
    ctx.store.batches.set(id, {
      id,
      directoryId: directory.id,
      creationDate: creationDate ?? isoSeconds(ctx.now()).replace('T', ' ').replace('Z', ''),
      transactionIds: [...new Set(transactionIds)],
    })
    ctx.store.touch()
    return { result: { id } }
  },

  getTransactionBatch: (ctx) => {
    const directory = directoryOf(ctx)
    const b = batchOf(ctx, directory)
    return { result: { batchId: b.id, creationDate: b.creationDate, transactionIds: [...b.transactionIds] } }
  },

  listBatchTransactions: (ctx) => {
    const directory = directoryOf(ctx)
    const batch = batchOf(ctx, directory)
    const items = batch.transactionIds.flatMap((id) => {
      const t = ctx.store.transactions.get(id)
      return t ? [t] : []
    })
    return { result: paged(ctx, items, transactionView) }
  },

  addBatchTransactions: (ctx) => {
    const directory = directoryOf(ctx)
    const batch = batchOf(ctx, directory)
    const body = bodyObject(ctx)
    const ids = readTransactionIds(body['transactionIds'], ctx, directory)
    batch.transactionIds = [...new Set([...batch.transactionIds, ...ids])]
    ctx.store.touch()
    return {}
  },
}
