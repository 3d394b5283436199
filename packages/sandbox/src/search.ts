// Contact search filters, in two dialects (behaviour `dialect`):
//  - `published` (default): Qualtrics' published API definition (spec §2.4). A leaf
//    `{filterType, comparison, value}` with the enumerated filter types and the comparisons each one
//    documents, or ONE group `{conjunction: "and", filters: [2 to 5 leaves]}`. Anything else — `or`, nesting,
//    a group of 1 or of more than 5, an unknown filterType or comparison — is a 400.
//  - `lenient`: what the sandbox accepted before the definition was read (aliases such as
//    `externalDataReference`, `ne/contains/startsWith`, `or`, nesting); kept to test clients against a
//    server that accepts more than it documents.
// Both: values (and the contact's values) are trimmed; matching ignores case unless `searchCaseSensitive`.

import { isRecord } from './check'
import { describeValue } from './errors'
import type { ContactRecord } from './types'

export type TextField = 'firstName' | 'lastName' | 'email' | 'phone' | 'extRef' | 'language'
export type TextComparison = 'eq' | 'neq' | 'contains' | 'startsWith'
export type DateComparison = 'eq' | 'neq' | 'gt' | 'lt' | 'gte' | 'lte'

export type FilterLeaf =
  | { type: 'text'; field: TextField | 'unsubscribed'; comparison: TextComparison; value: string }
  | { type: 'embedded'; name: string; comparison: TextComparison; value: string }
  | {
      type: 'date'
      field: 'creationDate' | 'lastModified'
      comparison: DateComparison
      /** `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`: compared at that precision. */
      value: string
    }
  | { type: 'inList'; mailingListId: string; member: boolean }
  | { type: 'fieldState'; field: 'email' | 'extRef' | 'firstName' | 'lastName'; empty: boolean }

export interface FilterGroup {
  type: 'group'
  conjunction: 'and' | 'or'
  filters: Filter[]
}
export type Filter = FilterLeaf | FilterGroup

export type SearchDialect = 'published' | 'lenient'

export class FilterError extends Error {
  override readonly name = 'FilterError'
}

function fail(path: string, message: string, received: unknown): never {
  throw new FilterError(`${path}: ${message} (Received: ${describeValue(received)})`)
}

// ---------------------------------------------------------------------------------------------
// The published dialect (spec §2.4, enums of qualtrics-oas/schemas.json).

/** `FilterType` of the published definition, in its order. */
export const PUBLISHED_FILTER_TYPES = [
  'email',
  'firstName',
  'lastName',
  'language',
  'phone',
  'extRef',
  'created',
  'lastModified',
  'inList',
  'infoFieldState',
  'embeddedData',
] as const
const STRING_TYPES = new Set<string>(['email', 'firstName', 'lastName', 'language', 'phone', 'extRef'])
const DATE_COMPARISONS: readonly DateComparison[] = ['eq', 'neq', 'gt', 'lt', 'gte', 'lte']
const INFO_FIELDS = ['email', 'extRef', 'firstName', 'lastName'] as const
const MAX_GROUP = 5
const DATE_VALUE = /^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$/

function oneOf<T extends string>(path: string, value: unknown, choices: readonly T[]): T {
  if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T
  return fail(path, `must be one of ${choices.join(', ')}`, value)
}

function stringValue(path: string, value: unknown): string {
  if (typeof value !== 'string') fail(path, 'must be a string', value)
  return value.trim()
}

function isGroupShaped(value: Record<string, unknown>): boolean {
  return 'conjunction' in value || 'filters' in value
}

function parsePublishedLeaf(value: Record<string, unknown>, path: string): FilterLeaf {
  const filterType = oneOf(`${path}.filterType`, value['filterType'], PUBLISHED_FILTER_TYPES)
  const comparisonPath = `${path}.comparison`
  if (STRING_TYPES.has(filterType)) {
    return {
      type: 'text',
      field: filterType as TextField,
      comparison: oneOf(comparisonPath, value['comparison'], ['eq', 'neq'] as const),
      value: stringValue(`${path}.value`, value['value']),
    }
  }
  if (filterType === 'created' || filterType === 'lastModified') {
    const comparison = oneOf(comparisonPath, value['comparison'], DATE_COMPARISONS)
    const date = stringValue(`${path}.value`, value['value'])
    if (!DATE_VALUE.test(date)) fail(`${path}.value`, 'must be "yyyy-MM-dd" or "yyyy-MM-dd hh:mm:ss"', date)
    return {
      type: 'date',
      field: filterType === 'created' ? 'creationDate' : 'lastModified',
      comparison,
      value: date,
    }
  }
  if (filterType === 'inList') {
    const comparison = oneOf(comparisonPath, value['comparison'], ['true', 'false'] as const)
    const listId = value['mailingListId']
    if (typeof listId !== 'string' || listId.trim() === '')
      fail(`${path}.mailingListId`, 'must name the mailing list', listId)
    return { type: 'inList', mailingListId: listId.trim(), member: comparison === 'true' }
  }
  if (filterType === 'infoFieldState') {
    const comparison = oneOf(comparisonPath, value['comparison'], ['empty', 'notEmpty'] as const)
    const field = oneOf(`${path}.field`, value['field'], INFO_FIELDS)
    return { type: 'fieldState', field, empty: comparison === 'empty' }
  }
  // embeddedData: listed by the definition, its syntax is not; the sandbox takes `field` + eq/neq.
  const name = value['field']
  if (typeof name !== 'string' || name.trim() === '')
    fail(`${path}.field`, 'must name the embedded data field', name)
  return {
    type: 'embedded',
    name: name.trim(),
    comparison: oneOf(comparisonPath, value['comparison'], ['eq', 'neq'] as const),
    value: stringValue(`${path}.value`, value['value']),
  }
}

export function parsePublishedFilter(value: unknown, path = 'filter'): Filter {
  if (!isRecord(value)) fail(path, 'must be an object', value)
  if (!isGroupShaped(value)) return parsePublishedLeaf(value, path)
  if (value['conjunction'] !== 'and')
    fail(
      `${path}.conjunction`,
      'must be "and" (the only conjunction Qualtrics documents)',
      value['conjunction'],
    )
  const filters = value['filters']
  if (!Array.isArray(filters) || filters.length < 2 || filters.length > MAX_GROUP)
    fail(`${path}.filters`, `must be an array of 2 to ${MAX_GROUP} filters`, filters)
  return {
    type: 'group',
    conjunction: 'and',
    filters: filters.map((item, i) => {
      const itemPath = `${path}.filters[${i}]`
      if (isRecord(item) && isGroupShaped(item)) fail(itemPath, 'groups cannot be nested', item)
      if (!isRecord(item)) fail(itemPath, 'must be an object', item)
      return parsePublishedLeaf(item, itemPath)
    }),
  }
}

// ---------------------------------------------------------------------------------------------
// The lenient dialect (behaviour `dialect: 'lenient'`): the sandbox's earlier reading.

const LENIENT_TYPES: Record<string, TextField | 'unsubscribed' | 'embeddedData'> = {
  firstname: 'firstName',
  lastname: 'lastName',
  email: 'email',
  phone: 'phone',
  phonenumber: 'phone',
  extref: 'extRef',
  externaldatareference: 'extRef',
  language: 'language',
  unsubscribed: 'unsubscribed',
  embeddeddata: 'embeddedData',
}
const LENIENT_COMPARISONS: Record<string, TextComparison> = {
  eq: 'eq',
  ne: 'neq',
  neq: 'neq',
  contains: 'contains',
  startswith: 'startsWith',
}
const MAX_DEPTH = 10

export function parseLenientFilter(value: unknown, path = 'filter', depth = 0): Filter {
  if (!isRecord(value)) fail(path, 'must be an object', value)
  if (depth > MAX_DEPTH) fail(path, `filters may nest at most ${MAX_DEPTH} levels`, value)
  if (isGroupShaped(value)) {
    const conjunction = value['conjunction']
    if (typeof conjunction !== 'string' || !['and', 'or'].includes(conjunction.toLowerCase())) {
      fail(`${path}.conjunction`, 'must be "and" or "or"', conjunction)
    }
    const filters = value['filters']
    if (!Array.isArray(filters) || filters.length === 0)
      fail(`${path}.filters`, 'must be a non-empty array', filters)
    return {
      type: 'group',
      conjunction: conjunction.toLowerCase() as 'and' | 'or',
      filters: filters.map((item, i) => parseLenientFilter(item, `${path}.filters[${i}]`, depth + 1)),
    }
  }
  const filterType = value['filterType']
  const field = typeof filterType === 'string' ? LENIENT_TYPES[filterType.toLowerCase()] : undefined
  if (!field)
    fail(
      `${path}.filterType`,
      `must be one of ${[...new Set(Object.values(LENIENT_TYPES))].join(', ')}`,
      filterType,
    )
  const rawComparison = value['comparison']
  const comparison =
    typeof rawComparison === 'string' ? LENIENT_COMPARISONS[rawComparison.toLowerCase()] : undefined
  if (!comparison) fail(`${path}.comparison`, 'must be one of eq, ne, contains, startsWith', rawComparison)
  const raw = value['value']
  if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') {
    fail(`${path}.value`, 'must be a string, number or boolean', raw)
  }
  const text = String(raw).trim()
  if (field !== 'embeddedData') return { type: 'text', field, comparison, value: text }
  const name = value['field'] ?? value['name']
  if (typeof name !== 'string' || name === '')
    fail(`${path}.field`, 'must name the embedded data field', name)
  return { type: 'embedded', name, comparison, value: text }
}

export function parseFilter(value: unknown, dialect: SearchDialect): Filter {
  return dialect === 'published' ? parsePublishedFilter(value) : parseLenientFilter(value)
}

// ---------------------------------------------------------------------------------------------
// Matching.

export interface MatchContext {
  caseSensitive: boolean
  /** Whether the contact is a member of the mailing list (for `inList`). */
  isMember: (contactId: string, mailingListId: string) => boolean
}

function textOf(contact: ContactRecord, leaf: FilterLeaf & { type: 'text' | 'embedded' }): string {
  if (leaf.type === 'embedded') {
    const lower = leaf.name.toLowerCase()
    const key = Object.keys(contact.embeddedData).find((k) => k.toLowerCase() === lower)
    return key === undefined ? '' : String(contact.embeddedData[key])
  }
  if (leaf.field === 'unsubscribed') return String(contact.unsubscribed)
  // A missing field compares as "", so `eq ""` finds contacts without it.
  return contact[leaf.field] ?? ''
}

function compareText(actual: string, expected: string, comparison: TextComparison): boolean {
  switch (comparison) {
    case 'eq':
      return actual === expected
    case 'neq':
      return actual !== expected
    case 'contains':
      return actual.includes(expected)
    case 'startsWith':
      return actual.startsWith(expected)
  }
}

/** A stored ISO date at the precision of the filter value: `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`. */
function dateAt(iso: string, precision: number): string {
  return iso.replace('T', ' ').slice(0, precision)
}

function compareDates(actual: string, expected: string, comparison: DateComparison): boolean {
  switch (comparison) {
    case 'eq':
      return actual === expected
    case 'neq':
      return actual !== expected
    case 'gt':
      return actual > expected
    case 'lt':
      return actual < expected
    case 'gte':
      return actual >= expected
    case 'lte':
      return actual <= expected
  }
}

export function matchesFilter(contact: ContactRecord, filter: Filter, ctx: MatchContext): boolean {
  switch (filter.type) {
    case 'group':
      return filter.conjunction === 'and'
        ? filter.filters.every((f) => matchesFilter(contact, f, ctx))
        : filter.filters.some((f) => matchesFilter(contact, f, ctx))
    case 'date':
      return compareDates(dateAt(contact[filter.field], filter.value.length), filter.value, filter.comparison)
    case 'inList':
      return ctx.isMember(contact.id, filter.mailingListId) === filter.member
    case 'fieldState':
      return ((contact[filter.field] ?? '').trim() === '') === filter.empty
    default: {
      let actual = textOf(contact, filter).trim()
      let expected = filter.value
      if (!ctx.caseSensitive) {
        actual = actual.toLowerCase()
        expected = expected.toLowerCase()
      }
      return compareText(actual, expected, filter.comparison)
    }
  }
}

/** `eq` values of an `and` tree (or a single leaf): used to build contacts for the duplicate-match fault. */
export function equalityValues(filter: Filter): Partial<Record<TextField, string>> {
  if (filter.type === 'group') {
    if (filter.conjunction === 'or') return filter.filters[0] ? equalityValues(filter.filters[0]) : {}
    return Object.assign({}, ...filter.filters.map(equalityValues)) as Partial<Record<TextField, string>>
  }
  if (filter.type !== 'text' || filter.comparison !== 'eq' || filter.field === 'unsubscribed') return {}
  return { [filter.field]: filter.value }
}

/** Base64 of the decimal offset, as in Qualtrics' examples (`NQ==` = 5). */
export function encodeSkipToken(offset: number): string {
  return Buffer.from(String(offset), 'utf8').toString('base64')
}

export function decodeSkipToken(token: string): number | undefined {
  const text = Buffer.from(token, 'base64').toString('utf8')
  if (!/^\d{1,9}$/.test(text) || encodeSkipToken(Number(text)) !== token) return undefined
  return Number(text)
}
