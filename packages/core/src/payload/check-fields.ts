// The part of the payload check that needs only each action's field table: types, required fields and
// a contact identifier. The browser plugin runs only this before it queues an item (it is small); the
// proxy and the node plugin run it as the first half of checkPayload, then the format checks
// (check-formats.ts: Qualtrics id forms, dates formatted for Qualtrics) and what needs more code (data
// limits, workflow hosts and size, defaults) — an item that passes here and fails there is answered
// `rejected` by the proxy with the reason, and reported then.
import { ACTION_FIELDS, type FieldCode } from '../actions/fields'
import type { ActionKey } from '../actions/payloads'
import type { FieldIssue } from '../errors'
import { isPlainObject } from '../is-plain-object'
import { issue } from './issue'

export interface FieldCheck {
  /** The fields that passed, coerced (numbers to strings, "true"/"false" to booleans; dates as they
   *  are: checkFormats formats them);
   *  empty optional fields left out. Present even when some fields failed (checkPayload goes on with
   *  them, to list every problem); undefined when the action or the payload itself is wrong. */
  payload?: Record<string, unknown>
  /** Every problem found; empty when the payload passed. */
  issues: FieldIssue[]
}

// As in mappings: a date, an array or a class instance is not an object field's value.
const isObject = isPlainObject

/** Checks `raw` against the fields of `action`; never throws. */
export function checkFields(action: ActionKey, raw: unknown): FieldCheck {
  const issues: FieldIssue[] = []
  const codes: Record<string, FieldCode> | undefined = ACTION_FIELDS[action]
  if (!codes) return { issues: [issue('action', 'is not a known action', action)] }
  if (!isObject(raw)) return { issues: [issue('payload', 'must be an object', raw)] }

  const payload: Record<string, unknown> = {}
  for (const key in raw)
    if (!{}.hasOwnProperty.call(codes, key)) issues.push(issue(key, `is not a field of ${action}`, raw[key]))
  for (const key in codes) {
    const code = codes[key] as FieldCode
    let value = raw[key]
    let expected = ''
    if (value == null || value === '') {
      if (code == 'S') issues.push(issue(key, 'is required', value))
      continue
    }
    if (code == 'b') {
      if (value == 'true' || value == 'false') value = value == 'true'
      if (typeof value != 'boolean') expected = 'must be a boolean'
    } else if (code == 'o') {
      if (!isObject(value)) expected = 'must be an object'
    } else if (code != 'd') {
      // a date's type is its form: only the format check knows it
      if (typeof value == 'number' && Number.isFinite(value)) value = '' + value
      if (typeof value != 'string') expected = 'must be a string'
    }
    if (expected) issues.push(issue(key, expected, raw[key]))
    else payload[key] = value
  }
  if (action == 'addContactToXmd' && !payload.extRef && !payload.email && !payload.phone)
    issues.push(issue('extRef', 'or email or phone is needed to identify the contact', undefined))
  return { payload, issues }
}
