// Checks and normalises a mapped payload before it leaves: types, required fields, Qualtrics id forms,
// dates, data limits and workflow hosts. Runs in the browser (before queueing) and again in the proxy.
import { describeValue, PayloadValidationError, type FieldIssue } from '../errors'
import { ACTION_FIELDS, type FieldShape } from '../actions/fields'
import type { ActionKey, PayloadByAction } from '../actions/payloads'
import { flattenData } from './flatten-data'
import { toQualtricsDate } from './format-date'
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
const ID_BODY = /^[A-Za-z0-9]{1,40}$/
const MAX_WORKFLOW_BODY = 100 * 1024

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** Returns the normalised payload, or every problem found. Never throws. */
export function checkPayload<K extends ActionKey>(
  action: K,
  raw: unknown,
  options: PayloadCheckOptions = {},
): PayloadCheck<K> {
  const issues: FieldIssue[] = []
  const shapes: Record<string, FieldShape> | undefined = ACTION_FIELDS[action]
  if (!shapes)
    return {
      issues: [{ path: 'action', message: `is not a known action (Received: ${describeValue(action)})` }],
    }
  if (!isPlainObject(raw))
    return { issues: [{ path: 'payload', message: `must be an object (Received: ${describeValue(raw)})` }] }

  const out: Record<string, unknown> = {}
  for (const key of Object.keys(raw)) {
    if (!Object.prototype.hasOwnProperty.call(shapes, key)) {
      issues.push({
        path: key,
        message: `is not a field of ${action} (Received: ${describeValue(raw[key])})`,
      })
    }
  }
  for (const key of Object.keys(shapes)) {
    const [type, required] = shapes[key] as FieldShape
    let value = raw[key]
    if (value === null || value === undefined || value === '') {
      if (required) issues.push({ path: key, message: `is required (Received: ${describeValue(value)})` })
      continue
    }
    if (type === 'STRING') {
      if (typeof value === 'number' && Number.isFinite(value)) value = String(value)
      if (typeof value !== 'string') {
        issues.push({ path: key, message: `must be a string (Received: ${describeValue(value)})` })
        continue
      }
      const prefix = ID_PREFIXES[key]
      if (prefix && !(value.startsWith(prefix) && ID_BODY.test(value.slice(prefix.length)))) {
        issues.push({
          path: key,
          message: `must be a Qualtrics id like ${prefix}… (Received: ${describeValue(value)})`,
        })
        continue
      }
    } else if (type === 'BOOLEAN') {
      if (value === 'true' || value === 'false') value = value === 'true'
      if (typeof value !== 'boolean') {
        issues.push({ path: key, message: `must be a boolean (Received: ${describeValue(value)})` })
        continue
      }
    } else if (type === 'DATETIME') {
      const date = toQualtricsDate(value)
      if (date === undefined) {
        issues.push({
          path: key,
          message: `must be a date, e.g. an ISO 8601 string (Received: ${describeValue(value)})`,
        })
        continue
      }
      value = date
    } else if (!isPlainObject(value)) {
      issues.push({ path: key, message: `must be an object (Received: ${describeValue(value)})` })
      continue
    }
    out[key] = value
  }

  if (action === 'triggerXflowWorkflow') {
    checkWorkflow(out, options, issues)
  } else {
    for (const key of ['embeddedData', 'transactionData']) {
      if (isPlainObject(out[key])) out[key] = flattenData(out[key], key, issues)
    }
    if (action === 'upsertContactTransaction') {
      out.transactionDate ??= toQualtricsDate((options.now ?? Date.now)())
      out.transactionData ??= {}
    } else if (out.extRef === undefined && out.email === undefined && out.phone === undefined) {
      issues.push({
        path: 'extRef',
        message: 'or email or phone is needed to identify the contact (Received: none of them)',
      })
    }
  }
  return issues.length ? { issues } : { payload: out as unknown as PayloadByAction[K], issues: [] }
}

function checkWorkflow(
  out: Record<string, unknown>,
  options: PayloadCheckOptions,
  issues: FieldIssue[],
): void {
  const url = out.workflowUrl
  if (typeof url === 'string' && !isQualtricsUrl(url, options.workflowOrigins)) {
    issues.push({
      path: 'workflowUrl',
      message: `must be an https URL on a *.qualtrics.com host (Received: ${describeValue(url)})`,
    })
  }
  out.eventPayload ??= {}
  let size = 0
  try {
    size = JSON.stringify(out.eventPayload).length
  } catch {
    issues.push({
      path: 'eventPayload',
      message: 'must be serialisable as JSON (Received: a circular or BigInt value)',
    })
  }
  if (size > MAX_WORKFLOW_BODY) {
    issues.push({
      path: 'eventPayload',
      message: `is ${size} characters as JSON; Qualtrics accepts at most ${MAX_WORKFLOW_BODY}`,
    })
  }
}

/** Like checkPayload, but throws a PayloadValidationError listing every problem. */
export function validatePayload<K extends ActionKey>(
  action: K,
  raw: unknown,
  options?: PayloadCheckOptions,
): PayloadByAction[K] {
  const result = checkPayload(action, raw, options)
  if (result.payload === undefined)
    throw new PayloadValidationError(`Invalid ${action} payload`, result.issues)
  return result.payload
}
