// Embedded data and transaction data are flat key/value maps in Qualtrics. Nested values are serialised
// one value at a time (Segment stringified the whole object instead).
import { describeValue, type FieldIssue } from '../errors'
import type { FlatData } from '../actions/payloads'

export const MAX_DATA_KEY_LENGTH = 200
export const MAX_DATA_VALUE_LENGTH = 1024

/** Flattens `data`; nulls and undefined are dropped; problems are pushed to `issues` under `field`. */
export function flattenData(data: Record<string, unknown>, field: string, issues: FieldIssue[]): FlatData {
  const entries: [string, string | number | boolean][] = []
  for (const key of Object.keys(data)) {
    const raw = data[key]
    if (raw === null || raw === undefined) continue
    const value = typeof raw === 'object' ? stringify(raw) : raw
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      issues.push({
        path: `${field}.${key}`,
        message: `must be a string, number, boolean or object (Received: ${typeof raw})`,
      })
    } else if (key.length > MAX_DATA_KEY_LENGTH || key.length === 0) {
      issues.push({
        path: field,
        message: `has a key of ${key.length} characters; keys must be 1 to ${MAX_DATA_KEY_LENGTH} (Received: ${describeValue(key)})`,
      })
    } else if (typeof value === 'string' && value.length > MAX_DATA_VALUE_LENGTH) {
      issues.push({
        path: `${field}.${key}`,
        message: `is ${value.length} characters long; values must be at most ${MAX_DATA_VALUE_LENGTH} (Received: ${describeValue(value)})`,
      })
    } else if (typeof value === 'number' && !Number.isFinite(value)) {
      issues.push({ path: `${field}.${key}`, message: `must be a finite number (Received: ${value})` })
    } else {
      entries.push([key, value])
    }
  }
  // fromEntries defines own properties, so a "__proto__" key stays data and never becomes a prototype.
  return Object.fromEntries(entries)
}

function stringify(value: object): string | undefined {
  try {
    return JSON.stringify(value)
  } catch {
    return undefined // circular or BigInt inside: reported as an unsupported value
  }
}
