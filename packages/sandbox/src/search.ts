// Contact search filters: leaves `{filterType, comparison, value}` and groups
// `{conjunction: 'and'|'or', filters: [...]}`, nested. Parsing reports the path of the bad part.

import { describeValue } from './errors'
import { isRecord } from './check'
import type { ContactRecord } from './types'

export type FilterField =
  'firstName' | 'lastName' | 'email' | 'phone' | 'extRef' | 'language' | 'unsubscribed' | 'embeddedData'
type TextField = Exclude<FilterField, 'unsubscribed' | 'embeddedData'>
export type Comparison = 'eq' | 'ne' | 'contains' | 'startsWith'

export interface FilterLeaf {
  type: 'leaf'
  field: FilterField
  /** For `embeddedData`: the embedded-data name. */
  name?: string
  comparison: Comparison
  value: string
}
export interface FilterGroup {
  type: 'group'
  conjunction: 'and' | 'or'
  filters: Filter[]
}
export type Filter = FilterLeaf | FilterGroup

const FILTER_TYPES: Record<string, FilterField> = {
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
const COMPARISONS: Record<string, Comparison> = {
  eq: 'eq',
  ne: 'ne',
  contains: 'contains',
  startswith: 'startsWith',
}
const MAX_DEPTH = 10

export class FilterError extends Error {
  override readonly name = 'FilterError'
}

function fail(path: string, message: string, received: unknown): never {
  throw new FilterError(`${path}: ${message} (Received: ${describeValue(received)})`)
}

export function parseFilter(value: unknown, path = 'filter', depth = 0): Filter {
  if (!isRecord(value)) fail(path, 'must be an object', value)
  if (depth > MAX_DEPTH) fail(path, `filters may nest at most ${MAX_DEPTH} levels`, value)
  if ('conjunction' in value || 'filters' in value) {
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
      filters: filters.map((item, i) => parseFilter(item, `${path}.filters[${i}]`, depth + 1)),
    }
  }
  const filterType = value['filterType']
  const field = typeof filterType === 'string' ? FILTER_TYPES[filterType.toLowerCase()] : undefined
  if (!field)
    fail(
      `${path}.filterType`,
      `must be one of ${Object.values(FILTER_TYPES)
        .filter((v, i, a) => a.indexOf(v) === i)
        .join(', ')}`,
      filterType,
    )
  const rawComparison = value['comparison']
  const comparison = typeof rawComparison === 'string' ? COMPARISONS[rawComparison.toLowerCase()] : undefined
  if (!comparison) fail(`${path}.comparison`, 'must be one of eq, ne, contains, startsWith', rawComparison)
  const raw = value['value']
  if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') {
    fail(`${path}.value`, 'must be a string, number or boolean', raw)
  }
  const leaf: FilterLeaf = { type: 'leaf', field, comparison, value: String(raw) }
  if (field === 'embeddedData') {
    const name = value['field'] ?? value['name']
    if (typeof name !== 'string' || name === '')
      fail(`${path}.field`, 'must name the embedded data field', name)
    leaf.name = name
  }
  return leaf
}

function contactValue(contact: ContactRecord, leaf: FilterLeaf): string {
  if (leaf.field === 'unsubscribed') return String(contact.unsubscribed)
  if (leaf.field === 'embeddedData') {
    const lower = (leaf.name ?? '').toLowerCase()
    const key = Object.keys(contact.embeddedData).find((k) => k.toLowerCase() === lower)
    return key === undefined ? '' : String(contact.embeddedData[key])
  }
  // A missing field compares as "", so `eq ""` finds contacts without it.
  return contact[leaf.field] ?? ''
}

export function matchesFilter(contact: ContactRecord, filter: Filter, caseSensitive: boolean): boolean {
  if (filter.type === 'group') {
    return filter.conjunction === 'and'
      ? filter.filters.every((f) => matchesFilter(contact, f, caseSensitive))
      : filter.filters.some((f) => matchesFilter(contact, f, caseSensitive))
  }
  let actual = contactValue(contact, filter)
  let expected = filter.value
  if (!caseSensitive) {
    actual = actual.toLowerCase()
    expected = expected.toLowerCase()
  }
  switch (filter.comparison) {
    case 'eq':
      return actual === expected
    case 'ne':
      return actual !== expected
    case 'contains':
      return actual.includes(expected)
    case 'startsWith':
      return actual.startsWith(expected)
  }
}

/** `eq` values of an `and` tree (or a single leaf): used to build contacts for the duplicate-match fault. */
export function equalityValues(filter: Filter): Partial<Record<TextField, string>> {
  if (filter.type === 'leaf') {
    const { field } = filter
    return filter.comparison === 'eq' && field !== 'embeddedData' && field !== 'unsubscribed'
      ? { [field]: filter.value }
      : {}
  }
  if (filter.conjunction === 'or') return filter.filters[0] ? equalityValues(filter.filters[0]) : {}
  return Object.assign({}, ...filter.filters.map(equalityValues)) as Partial<Record<TextField, string>>
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
