// Checks and normalises a mapped payload before it is stored or sent to Qualtrics: the field checks the
// browser also runs (check-fields.ts), the format checks it leaves to the proxy (check-formats.ts:
// id forms, dates formatted), then data limits, workflow hosts and size, and the defaults.
import type { ActionKey, PayloadByAction } from '../actions/payloads'
import { PayloadValidationError, type FieldIssue } from '../errors'
import { checkFields } from './check-fields'
import { checkFormats } from './check-formats'
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

const MAX_WORKFLOW_BODY = 100 * 1024

/** Returns the normalised payload, or every problem found. Throws only when `eventPayload` cannot be
 * serialised as JSON (circular, or nested deeper than the stack allows). */
export function checkPayload<K extends ActionKey>(
  action: K,
  raw: unknown,
  options: PayloadCheckOptions = {},
): PayloadCheck<K> {
  const { payload: out, issues } = checkFields(action, raw)
  if (!out) return { issues }
  checkFormats(action, raw as Record<string, unknown>, out, issues)

  if (action == 'triggerXflowWorkflow') {
    const url = out.workflowUrl as string | undefined
    if (url && !isQualtricsUrl(url, options.workflowOrigins))
      issues.push(issue('workflowUrl', 'must be an https URL on a *.qualtrics.com host', url))
    const size = (JSON.stringify(out.eventPayload ?? (out.eventPayload = {})) ?? '').length
    if (size > MAX_WORKFLOW_BODY)
      issues.push(issue('eventPayload', `must be at most ${MAX_WORKFLOW_BODY} characters as JSON`, size))
  } else {
    for (const key of ['embeddedData', 'transactionData'])
      if (out[key]) out[key] = flattenData(out[key] as Record<string, unknown>, key, issues)
    if (action == 'upsertContactTransaction') {
      out.transactionDate ||= toQualtricsDate((options.now ?? Date.now)())
      out.transactionData ||= {}
    }
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
