// Checks and normalises a mapped payload before it leaves: types, required fields, Qualtrics id forms,
// dates, data limits and workflow hosts. Runs in the browser (before queueing) and again in the proxy,
// so it is written to stay small.
import { ACTION_FIELDS, type FieldCode } from '../actions/fields'
import type { ActionKey, PayloadByAction } from '../actions/payloads'
import { PayloadValidationError, type FieldIssue } from '../errors'
import { flattenData } from './flatten-data'
import { toQualtricsDate } from './format-date'
import { issue } from './issue'
import { isQualtricsUrl } from './qualtrics-url'

export interface PayloadCheckOptions {
  /** Used for `transactionDate` when the event has none. Default: the current time. */
  now?: () => number
  /** Origins besides `https://*.qualtrics.com` that may receive workflow events (the sandbox). */
  workflowOrigins?: readonly string[]
}

export type PayloadCheck<K extends ActionKey> =
  { payload: PayloadByAction[K]; issues: [] } | { payload?: undefined; issues: FieldIssue[] }

const ID_PREFIXES: Record<string, string> = { directoryId: 'POOL_', mailingListId: 'CG_', contactId: 'CID_' }
const MAX_WORKFLOW_BODY = 100 * 1024

const isObject = (v: unknown): v is Record<string, unknown> =>
  !!v && typeof v == 'object' && !Array.isArray(v)

/** Returns the normalised payload, or every problem found. Throws only when `eventPayload` cannot be
 * serialised as JSON (circular, or nested deeper than the stack allows). */
export function checkPayload<K extends ActionKey>(
  action: K,
  raw: unknown,
  options: PayloadCheckOptions = {},
): PayloadCheck<K> {
  const issues: FieldIssue[] = []
  const codes: Record<string, FieldCode> | undefined = ACTION_FIELDS[action]
  if (!codes) return { issues: [issue('action', 'is not a known action', action)] }
  if (!isObject(raw)) return { issues: [issue('payload', 'must be an object', raw)] }

  const out: Record<string, unknown> = {}
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
    } else if (code == 'd') {
      value = toQualtricsDate(value)
      if (!value) expected = 'must be a date, e.g. an ISO 8601 string'
    } else {
      if (typeof value == 'number' && Number.isFinite(value)) value = '' + value
      const prefix = ID_PREFIXES[key] || ''
      if (typeof value != 'string') expected = 'must be a string'
      else if (
        prefix &&
        !(value.startsWith(prefix) && /^[A-Za-z0-9]{1,40}$/.test(value.slice(prefix.length)))
      )
        expected = `must be a Qualtrics id like ${prefix}…`
    }
    if (expected) issues.push(issue(key, expected, raw[key]))
    else out[key] = value
  }

  if (action == 'triggerXflowWorkflow') {
    const url = out.workflowUrl as string | undefined
    if (url && !isQualtricsUrl(url, options.workflowOrigins))
      issues.push(issue('workflowUrl', 'must be an https URL on a *.qualtrics.com host', url))
    // (no `??` in this file: browsers' bundles would have to lower it)
    const size = (JSON.stringify(out.eventPayload || (out.eventPayload = {})) || '').length
    if (size > MAX_WORKFLOW_BODY)
      issues.push(issue('eventPayload', `must be at most ${MAX_WORKFLOW_BODY} characters as JSON`, size))
  } else {
    for (const key of ['embeddedData', 'transactionData'])
      if (out[key]) out[key] = flattenData(out[key] as Record<string, unknown>, key, issues)
    if (action == 'upsertContactTransaction') {
      out.transactionDate ||= toQualtricsDate((options.now || Date.now)())
      out.transactionData ||= {}
    } else if (!out.extRef && !out.email && !out.phone)
      issues.push(issue('extRef', 'or email or phone is needed to identify the contact', undefined))
  }
  return issues.length ? { issues } : { payload: out as unknown as PayloadByAction[K], issues: [] }
}

/** Like checkPayload, but throws a PayloadValidationError listing every problem. */
export function validatePayload<K extends ActionKey>(
  action: K,
  raw: unknown,
  options?: PayloadCheckOptions,
): PayloadByAction[K] {
  const result = checkPayload(action, raw, options)
  if (!result.payload) throw new PayloadValidationError(`Invalid ${action} payload`, result.issues)
  return result.payload
}
