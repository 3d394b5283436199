// Readers for Qualtrics' JSON: the envelope and each `result` shape. Nothing is cast; every field is
// checked, and a problem names the field path and what was received. Optional fields that come back
// as `null` count as absent. Where Qualtrics spells a field two ways, both are accepted.

import { RelayError, describeValue } from '../../errors'
import type { BadResponseKind } from './errors'
import type {
  CreateTransactionsResult,
  DeduplicationCriteria,
  DirectoryContact,
  DirectorySummary,
  ListedContactTransaction,
  WhoAmI,
} from './types'

/** A problem with a response body; the client turns it into a QualtricsResponseError with context. */
export class ResponseShapeError extends RelayError {
  override readonly name = 'ResponseShapeError'
  readonly kind: BadResponseKind
  constructor(kind: BadResponseKind, problem: string) {
    super('QUALTRICS_BAD_RESPONSE', problem, { retryable: true })
    this.kind = kind
  }
}

type JsonObject = Record<string, unknown>

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function problem(path: string, expected: string, received: unknown): ResponseShapeError {
  return new ResponseShapeError(
    'bad-shape',
    `${path} must be ${expected} (Received: ${describeValue(received)})`,
  )
}

export interface Envelope {
  /** `undefined` when the envelope has no `result` (e.g. an update answered with `meta` only). */
  result: unknown
  requestId: string | undefined
  notice: string | undefined
  errorMessage: string | undefined
  errorCode: string | undefined
  instanceId: string | undefined
}

/** Parses a body as Qualtrics' envelope `{ result?, meta? }`; one of the two must be there. */
export function parseEnvelope(text: string): Envelope {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new ResponseShapeError('not-json', `the body is not JSON (Received: ${excerpt(text)})`)
  }
  if (!isObject(body) || (!('result' in body) && !isObject(body.meta))) {
    throw new ResponseShapeError(
      'no-envelope',
      `the body is not a Qualtrics envelope { result, meta } (Received: ${describeValue(body)})`,
    )
  }
  const meta = isObject(body.meta) ? body.meta : {}
  const error = isObject(meta.error) ? meta.error : {}
  return {
    result: body.result,
    requestId: nonEmptyString(meta.requestId),
    notice: nonEmptyString(meta.notice),
    errorMessage: nonEmptyString(error.errorMessage),
    errorCode: nonEmptyString(error.errorCode),
    instanceId: nonEmptyString(error.instanceId),
  }
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

/** A short, single-line excerpt of a raw body for messages. */
export function excerpt(text: string, max = 80): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  if (flat === '') return 'an empty body'
  return JSON.stringify(flat.length > max ? `${flat.slice(0, max - 1)}…` : flat)
}

export function readResultObject(result: unknown): JsonObject {
  if (!isObject(result)) throw problem('result', 'an object', result)
  return result
}

function readString(o: JsonObject, key: string, path: string): string {
  const value = o[key]
  if (typeof value !== 'string' || value === '') throw problem(`${path}.${key}`, 'a non-empty string', value)
  return value
}

function readOptional<T>(
  o: JsonObject,
  keys: readonly string[],
  path: string,
  expected: string,
  accept: (value: unknown) => value is T,
): T | undefined {
  for (const key of keys) {
    const value = o[key]
    if (value === undefined || value === null) continue
    if (!accept(value)) throw problem(`${path}.${key}`, expected, value)
    return value
  }
  return undefined
}

const isString = (v: unknown): v is string => typeof v === 'string'
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean'
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

function optString(o: JsonObject, keys: readonly string[], path: string): string | undefined {
  return readOptional(o, keys, path, 'a string', isString)
}

/** Copies `value` into `target[key]` only when defined (exactOptionalPropertyTypes-friendly). */
function put<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value
}

export function readWhoAmI(result: unknown): WhoAmI {
  const r = readResultObject(result)
  const out: WhoAmI = {
    userId: readString(r, 'userId', 'result'),
    userName: readString(r, 'userName', 'result'),
    brandId: readString(r, 'brandId', 'result'),
  }
  for (const key of ['datacenter', 'email', 'firstName', 'lastName', 'accountType'] as const) {
    put(out, key, optString(r, [key], 'result'))
  }
  return out
}

function readDirectory(value: unknown, path: string): DirectorySummary {
  if (!isObject(value)) throw problem(path, 'an object', value)
  const out: DirectorySummary = {
    directoryId: readString(value, 'directoryId', path),
    name: readOptional(value, ['name'], path, 'a string', isString) ?? '',
  }
  put(out, 'contactCount', readOptional(value, ['contactCount'], path, 'a number', isNumber))
  put(out, 'isDefault', readOptional(value, ['isDefault'], path, 'a boolean', isBoolean))
  put(
    out,
    'deduplicationCriteria',
    readCriteria(value.deduplicationCriteria, `${path}.deduplicationCriteria`),
  )
  return out
}

/** `deduplicationCriteria` of a directory (spec §2.2): which fields its merge rules use. */
function readCriteria(value: unknown, path: string): DeduplicationCriteria | undefined {
  if (value === undefined || value === null) return undefined
  if (!isObject(value)) throw problem(path, 'an object of booleans', value)
  const out: DeduplicationCriteria = {}
  for (const key of ['email', 'firstName', 'lastName', 'externalDataReference', 'phone'] as const) {
    put(out, key, readOptional(value, [key], path, 'a boolean', isBoolean))
  }
  return out
}

/** A page of a list: its elements and the raw `nextPage` (a URL, or absent on the last page). */
export function readPage<T>(
  result: unknown,
  readElement: (value: unknown, path: string) => T,
): { elements: T[]; nextPage: string | undefined; skipToken: string | undefined } {
  const r = readResultObject(result)
  if (!Array.isArray(r.elements)) throw problem('result.elements', 'an array', r.elements)
  return {
    elements: r.elements.map((el, i) => readElement(el, `result.elements.${i}`)),
    nextPage: nonEmptyString(readOptional(r, ['nextPage'], 'result', 'a string or null', isString)),
    skipToken: nonEmptyString(
      readOptional(r, ['skipToken', 'nextSkipToken'], 'result', 'a string or null', isString),
    ),
  }
}

export const readDirectoryElement = readDirectory

/**
 * A search element (published `ElementsInner1`: `id`, `phoneNumber`, `externalDataReference`,
 * `unsubscribed`, dates as strings) or a get-contact result (published `Result5`: `contactId`, `phone`,
 * `extRef`, `directoryUnsubscribed`, dates in epoch ms). The published names are read first; the other
 * spelling of each is still accepted, so either answer reads the same.
 */
export function readContact(value: unknown, path: string): DirectoryContact {
  if (!isObject(value)) throw problem(path, 'an object', value)
  const id = nonEmptyString(value.id) ?? nonEmptyString(value.contactId)
  if (id === undefined)
    throw problem(`${path}.id`, 'a non-empty string (or contactId)', value.id ?? value.contactId)
  const out: DirectoryContact = { id }
  put(out, 'firstName', optString(value, ['firstName'], path))
  put(out, 'lastName', optString(value, ['lastName'], path))
  put(out, 'email', optString(value, ['email'], path))
  put(out, 'phone', optString(value, ['phoneNumber', 'phone'], path))
  put(out, 'extRef', optString(value, ['externalDataReference', 'extRef'], path))
  put(out, 'language', optString(value, ['language'], path))
  put(
    out,
    'unsubscribed',
    readOptional(value, ['directoryUnsubscribed', 'unsubscribed'], path, 'a boolean', isBoolean),
  )
  put(out, 'embeddedData', readEmbeddedData(value.embeddedData, `${path}.embeddedData`))
  put(out, 'lastModified', readDate(value, 'lastModified', path))
  put(out, 'creationDate', readDate(value, 'creationDate', path))
  return out
}

function readEmbeddedData(
  value: unknown,
  path: string,
): Record<string, string | number | boolean> | undefined {
  if (value === undefined || value === null) return undefined
  if (!isObject(value)) throw problem(path, 'an object', value)
  const out: Record<string, string | number | boolean> = {}
  for (const [key, v] of Object.entries(value)) {
    if (v === null || v === undefined) continue
    if (!isString(v) && !isNumber(v) && !isBoolean(v)) {
      throw problem(`${path}.${key}`, 'a string, number or boolean', v)
    }
    out[key] = v
  }
  return out
}

/** A date as Qualtrics gives it: a string is kept as it is, epoch ms (get contact) become ISO. */
function readDate(o: JsonObject, key: string, path: string): string | undefined {
  const value = o[key]
  if (value === undefined || value === null) return undefined
  if (isString(value)) return value
  if (isNumber(value)) {
    const date = new Date(value)
    if (!Number.isNaN(date.getTime())) return date.toISOString()
  }
  throw problem(`${path}.${key}`, 'a date string', value)
}

export function readListedTransaction(value: unknown, path: string): ListedContactTransaction {
  if (!isObject(value)) throw problem(path, 'an object', value)
  const id = nonEmptyString(value.transactionId) ?? nonEmptyString(value.id)
  if (id === undefined) {
    throw problem(`${path}.transactionId`, 'a non-empty string (or id)', value.transactionId ?? value.id)
  }
  const out: ListedContactTransaction = { id }
  put(out, 'contactId', optString(value, ['contactId'], path))
  put(out, 'mailingListId', optString(value, ['mailingListId'], path))
  put(out, 'transactionDate', readDate(value, 'transactionDate', path))
  put(out, 'data', readEmbeddedData(value.data, `${path}.data`))
  return out
}

export function readMailingList(result: unknown): { id: string; name?: string } {
  const r = readResultObject(result)
  const id = nonEmptyString(r.mailingListId) ?? nonEmptyString(r.id)
  if (id === undefined)
    throw problem('result.mailingListId', 'a non-empty string (or id)', r.mailingListId ?? r.id)
  const out: { id: string; name?: string } = { id }
  put(out, 'name', optString(r, ['name'], 'result'))
  return out
}

export function readCreatedId(result: unknown): { id: string } {
  return { id: readString(readResultObject(result), 'id', 'result') }
}

export function readMailingListContact(result: unknown): { id: string; contactLookupId?: string } {
  const r = readResultObject(result)
  const out: { id: string; contactLookupId?: string } = { id: readString(r, 'id', 'result') }
  put(out, 'contactLookupId', optString(r, ['contactLookupId'], 'result'))
  return out
}

/**
 * `{ createdTransactions: { key: { id } }, unprocessedTransactions?: { key: reason } }`. A reason may be
 * an object (`errorMessage`/`message`, `errorCode`/`error`/`code`) or a plain string; a list of keys is
 * also accepted. A key that was sent but appears in neither map is reported as unprocessed
 * (`NOT_REPORTED`), so no transaction silently goes missing.
 */
export function readTransactionsResult(
  result: unknown,
  sentKeys: readonly string[],
): Omit<CreateTransactionsResult, 'requestId'> {
  const r = readResultObject(result)
  const created: Record<string, string> = {}
  const unprocessed: CreateTransactionsResult['unprocessed'] = {}

  const createdMap = r.createdTransactions ?? {}
  if (!isObject(createdMap)) throw problem('result.createdTransactions', 'an object', createdMap)
  for (const [key, value] of Object.entries(createdMap)) {
    const path = `result.createdTransactions.${key}`
    if (isString(value) && value !== '') created[key] = value
    else if (isObject(value))
      created[key] = readString(value, isString(value.id) ? 'id' : 'transactionId', path)
    else throw problem(path, 'an object { id }', value)
  }

  const unprocessedValue = r.unprocessedTransactions ?? {}
  let entries: [string, unknown][]
  if (isObject(unprocessedValue)) entries = Object.entries(unprocessedValue)
  else if (Array.isArray(unprocessedValue)) {
    entries = unprocessedValue.map((key, i) => {
      if (!isString(key)) throw problem(`result.unprocessedTransactions.${i}`, 'a transaction key', key)
      return [key, undefined]
    })
  } else throw problem('result.unprocessedTransactions', 'an object or an array', unprocessedValue)
  for (const [key, reason] of entries) {
    unprocessed[key] = readUnprocessedReason(reason, `result.unprocessedTransactions.${key}`)
  }

  for (const key of sentKeys) {
    if (!(key in created) && !(key in unprocessed)) {
      unprocessed[key] = {
        errorCode: 'NOT_REPORTED',
        errorMessage: 'Qualtrics reported this transaction neither as created nor as unprocessed',
      }
    }
  }
  return { created, unprocessed }
}

function readUnprocessedReason(value: unknown, path: string): { errorCode?: string; errorMessage: string } {
  if (value === undefined || value === null) return { errorMessage: 'unprocessed (no reason given)' }
  if (isString(value)) return { errorMessage: value || 'unprocessed (no reason given)' }
  if (!isObject(value)) throw problem(path, 'an object or a string', value)
  const message = optString(value, ['errorMessage', 'message', 'reason'], path)
  const code = optString(value, ['errorCode', 'code', 'error'], path)
  const out: { errorCode?: string; errorMessage: string } = {
    errorMessage: message || code || 'unprocessed (no reason given)',
  }
  put(out, 'errorCode', code || undefined)
  return out
}
