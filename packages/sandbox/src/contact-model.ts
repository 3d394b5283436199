// Contact fields: validation of incoming bodies, merge-rule matching and applying updates.

import type { Issues } from './check'
import { isRecord, optionalBoolean, optionalString } from './check'
import type { ContactRecord, DirectoryRecord, MergeRule, Scalar } from './types'

export interface ContactInput {
  firstName?: string
  lastName?: string
  email?: string
  phone?: string
  extRef?: string
  language?: string
  unsubscribed?: boolean
  embeddedData?: Record<string, Scalar>
}

export const STRING_FIELDS = ['firstName', 'lastName', 'email', 'phone', 'extRef', 'language'] as const

export const EMBEDDED_NAME_MAX = 200
export const EMBEDDED_VALUE_MAX = 1024

/** Reads the 8 contact fields of Qualtrics' create/update body; unknown keys are ignored. */
export function readContactFields(value: unknown, path: string, issues: Issues): ContactInput {
  const input: ContactInput = {}
  if (!isRecord(value)) {
    issues.add(path, 'must be a JSON object', value)
    return input
  }
  for (const key of STRING_FIELDS) {
    // null is taken as "not given", as JSON clients often send it for empty fields.
    if (value[key] === null) continue
    const text = optionalString(value, key, path, issues)
    if (text !== undefined) input[key] = text
  }
  if (value['unsubscribed'] !== null) {
    const unsubscribed = optionalBoolean(value, 'unsubscribed', path, issues)
    if (unsubscribed !== undefined) input.unsubscribed = unsubscribed
  }
  const embedded = value['embeddedData']
  if (embedded !== undefined && embedded !== null) {
    const data = readScalarMap(embedded, `${path}.embeddedData`, issues)
    if (data) input.embeddedData = data
  }
  return input
}

/**
 * A flat map of names to strings, numbers or booleans (embedded data, transaction data).
 * Names 1–200 characters, values at most 1,024 characters; null becomes "".
 */
export function readScalarMap(
  value: unknown,
  path: string,
  issues: Issues,
): Record<string, Scalar> | undefined {
  if (!isRecord(value)) {
    issues.add(path, 'must be an object of names to strings, numbers or booleans', value)
    return undefined
  }
  const out: Record<string, Scalar> = {}
  for (const [name, item] of Object.entries(value)) {
    if (name.length === 0 || name.length > EMBEDDED_NAME_MAX) {
      issues.add(`${path}`, `field names must be 1 to ${EMBEDDED_NAME_MAX} characters`, name)
      continue
    }
    if (item === null) {
      out[name] = ''
      continue
    }
    if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean') {
      issues.add(`${path}.${name}`, 'must be a string, number or boolean', item)
      continue
    }
    if (String(item).length > EMBEDDED_VALUE_MAX) {
      issues.add(
        `${path}.${name}`,
        `must be at most ${EMBEDDED_VALUE_MAX} characters`,
        `${String(item).length} characters`,
      )
      continue
    }
    out[name] = item
  }
  return out
}

function isBlank(value: string | undefined): boolean {
  return value === undefined || value.trim() === ''
}

/**
 * Applies a directory's merge rules to an incoming contact: rules are tried in order; a rule is
 * skipped when the incoming contact lacks one of its fields; a rule matches an existing contact when
 * every field is equal ignoring case. `oldestMatch` answers the oldest such contact (the store keeps
 * an index for it, see merge-index.ts). Returns the rule index too.
 */
export function findMergeMatch(
  rules: readonly MergeRule[],
  input: ContactInput,
  oldestMatch: (rule: MergeRule) => ContactRecord | undefined,
): { contact: ContactRecord; ruleIndex: number } | undefined {
  for (const [ruleIndex, rule] of rules.entries()) {
    if (rule.length === 0 || rule.some((field) => isBlank(input[field]))) continue
    const contact = oldestMatch(rule)
    if (contact) return { contact, ruleIndex }
  }
  return undefined
}

/** Sets embedded-data names case-insensitively: "Level" replaces an existing "level". */
export function setEmbedded(target: Record<string, Scalar>, name: string, value: Scalar): void {
  const lower = name.toLowerCase()
  for (const existing of Object.keys(target)) {
    if (existing !== name && existing.toLowerCase() === lower) delete target[existing]
  }
  target[name] = value
}

export interface UpdatePolicy {
  /** Whether an empty string replaces an existing value. */
  overwriteBlank: boolean
  /** `merge`: given names are set, others kept. `replace`: the given object replaces all. */
  embeddedData: 'merge' | 'replace'
}

/** Applies incoming values to a contact (a merge on create, or a PUT). */
export function applyContactInput(
  contact: ContactRecord,
  input: ContactInput,
  policy: UpdatePolicy,
  now: string,
): void {
  for (const key of STRING_FIELDS) {
    const value = input[key]
    if (value === undefined) continue
    if (value.trim() === '' && !policy.overwriteBlank) continue
    contact[key] = value
  }
  if (input.unsubscribed !== undefined) contact.unsubscribed = input.unsubscribed
  if (input.embeddedData !== undefined) {
    if (policy.embeddedData === 'replace') contact.embeddedData = {}
    for (const [name, value] of Object.entries(input.embeddedData))
      setEmbedded(contact.embeddedData, name, value)
  }
  contact.lastModified = now
}

export function newContactRecord(
  id: string,
  directory: DirectoryRecord,
  input: ContactInput,
  origin: ContactRecord['origin'],
  now: string,
): ContactRecord {
  const contact: ContactRecord = {
    id,
    directoryId: directory.id,
    unsubscribed: input.unsubscribed ?? false,
    embeddedData: {},
    creationDate: now,
    lastModified: now,
    origin,
    mergeCount: 0,
    mergedIds: [],
  }
  for (const key of STRING_FIELDS) {
    const value = input[key]
    if (value !== undefined) contact[key] = value
  }
  for (const [name, value] of Object.entries(input.embeddedData ?? {}))
    setEmbedded(contact.embeddedData, name, value)
  return contact
}
