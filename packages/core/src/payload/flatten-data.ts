// Embedded data and transaction data are flat key/value maps in Qualtrics. Nested values are serialised
// one value at a time (Segment stringified the whole object instead).
import type { FlatData } from '../actions/payloads'
import type { FieldIssue } from '../errors'
import { issue } from './issue'

export const MAX_DATA_KEY_LENGTH = 200
export const MAX_DATA_VALUE_LENGTH = 1024

/** Flattens `data`; nulls are dropped; problems are pushed to `issues` under `field`. */
export function flattenData(data: Record<string, unknown>, field: string, issues: FieldIssue[]): FlatData {
  const entries: [string, string | number | boolean][] = []
  for (const key of Object.keys(data)) {
    let value = data[key]
    if (value == null) continue
    if (typeof value == 'object') {
      try {
        value = JSON.stringify(value)
      } catch {
        // circular or BigInt inside: reported below as an unsupported value
      }
    }
    const at = `${field}.${key}`
    if (!key || key.length > MAX_DATA_KEY_LENGTH)
      issues.push(issue(field, `keys must be 1-${MAX_DATA_KEY_LENGTH} characters`, key))
    else if (
      typeof value == 'string'
        ? value.length > MAX_DATA_VALUE_LENGTH
        : typeof value != 'boolean' && !Number.isFinite(value)
    )
      issues.push(
        issue(
          at,
          `must be a finite number, a boolean, or at most ${MAX_DATA_VALUE_LENGTH} characters`,
          value,
        ),
      )
    else entries.push([key, value as string | number | boolean])
  }
  // fromEntries defines own properties, so a "__proto__" key stays data and never becomes a prototype.
  return Object.fromEntries(entries)
}
