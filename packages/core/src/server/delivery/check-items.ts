// What enqueue() accepts: every item checked before any is stored, each bad field named with what
// was received.

import type { DeliveryItem } from '../../actions/payloads'
import { describeValue, PayloadValidationError, type FieldIssue } from '../../errors'
import { IDENTIFIER_ORDER, isWellFormed } from './keys'

const ACTIONS = new Set(['addContactToXmd', 'upsertContactTransaction', 'triggerXflowWorkflow'])
const LOOKUP_FIELDS: readonly string[] = IDENTIFIER_ORDER

/** Throws `PayloadValidationError` listing every bad field of every item. */
export function checkItems(items: readonly DeliveryItem[]): void {
  const issues: FieldIssue[] = []
  if (!Array.isArray(items)) {
    throw new PayloadValidationError('enqueue() takes an array of delivery items', [
      { path: '', message: `(Received: ${describeValue(items)})` },
    ])
  }
  items.forEach((item, i) => {
    const it = item as Partial<Record<keyof DeliveryItem, unknown>> | null
    if (typeof it !== 'object' || it === null) {
      issues.push({ path: `${i}`, message: `must be a delivery item (Received: ${describeValue(it)})` })
      return
    }
    for (const key of ['messageId', 'mappingId', 'source'] as const) {
      if (key === 'source' && it.source === undefined) continue
      if (typeof it[key] !== 'string' || it[key] === '') {
        issues.push({
          path: `${i}.${key}`,
          message: `must be a non-empty string (Received: ${describeValue(it[key])})`,
        })
      } else if (!isWellFormed(it[key])) {
        // Hashed as UTF-8 it would collide with the same text holding U+FFFD instead (see deriveItemId).
        issues.push({
          path: `${i}.${key}`,
          message: `must be well-formed Unicode: it holds a lone surrogate (Received: ${describeValue(it[key])})`,
        })
      }
    }
    if (typeof it.action !== 'string' || !ACTIONS.has(it.action)) {
      issues.push({
        path: `${i}.action`,
        message: `must be one of ${[...ACTIONS].join(', ')} (Received: ${describeValue(it.action)})`,
      })
    }
    if (typeof it.payload !== 'object' || it.payload === null) {
      issues.push({
        path: `${i}.payload`,
        message: `must be an object (Received: ${describeValue(it.payload)})`,
      })
    }
    const lookupBy = it.lookupBy
    if (
      lookupBy !== undefined &&
      (!Array.isArray(lookupBy) ||
        lookupBy.length === 0 ||
        new Set(lookupBy).size !== lookupBy.length ||
        !lookupBy.every((f) => typeof f === 'string' && LOOKUP_FIELDS.includes(f)))
    ) {
      issues.push({
        path: `${i}.lookupBy`,
        message: `must be a non-empty list of distinct ${LOOKUP_FIELDS.join(', ')} (Received: ${describeValue(lookupBy)})`,
      })
    }
  })
  if (issues.length > 0) throw new PayloadValidationError('Invalid delivery items', issues)
}
