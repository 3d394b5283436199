// The format half of the field checks, run by the proxy and the node plugin (through checkPayload) but
// not by the browser, which ships without it to stay small: Qualtrics ids must have their prefix, and
// dates must parse and are formatted the way Qualtrics wants them. A browser item that fails here is
// answered `rejected` by the proxy, naming the field and the value, and the plugin reports that.
import { ACTION_FIELDS } from '../actions/fields'
import type { ActionKey } from '../actions/payloads'
import type { FieldIssue } from '../errors'
import { toQualtricsDate } from './format-date'
import { issue } from './issue'

const ID_PREFIXES: Record<string, string> = { directoryId: 'POOL_', mailingListId: 'CG_', contactId: 'CID_' }

/**
 * Checks the form of the fields checkFields let through (`out`, from `raw`), formats the dates in
 * place and adds an issue per bad value to `issues`.
 */
export function checkFormats(
  action: ActionKey,
  raw: Record<string, unknown>,
  out: Record<string, unknown>,
  issues: FieldIssue[],
): void {
  const codes: Record<string, string> = ACTION_FIELDS[action]
  for (const key in out) {
    const value = out[key]
    const prefix = ID_PREFIXES[key]
    let expected = ''
    if (codes[key] == 'd') {
      out[key] = toQualtricsDate(value)
      if (!out[key]) expected = 'must be a date, e.g. an ISO 8601 string'
    } else if (
      prefix &&
      !(
        (value as string).startsWith(prefix) &&
        /^[A-Za-z0-9]{1,40}$/.test((value as string).slice(prefix.length))
      )
    )
      expected = `must be a Qualtrics id like ${prefix}…`
    if (expected) issues.push(issue(key, expected, raw[key]))
  }
}
