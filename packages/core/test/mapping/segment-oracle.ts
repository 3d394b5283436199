// Segment's own mapping evaluator (`@segment/actions-core/mapping-kit`, a devDependency) side by side
// with ours, so tests can compare the two on the same mapping and event.
import { createRequire } from 'node:module'
import { expect } from 'vitest'
import { MappingError } from '../../src/errors'
import { applyMapping, checkMapping } from '../../src/mapping/index'

// The package's ESM build uses extension-less imports that Node cannot load; its CommonJS build works.
const require = createRequire(import.meta.url)
const kit = require('@segment/actions-core/mapping-kit') as {
  transform: (mapping: object, data: object) => unknown
}
const validateModule = require('@segment/actions-core/mapping-kit/validate') as {
  default: (mapping: unknown) => void
}

export const segmentTransform = kit.transform
export const segmentValidate = validateModule.default

/** What an evaluator did: refused the mapping up front, failed while evaluating, or gave a value. */
export type Outcome =
  | { kind: 'refused'; message: string }
  | { kind: 'failed'; message: string }
  | { kind: 'value'; value: unknown }

const messageOf = (error: unknown): string => {
  if (error instanceof AggregateError) return error.errors.map(messageOf).join('; ')
  const message = error instanceof Error ? error.message : String(error)
  // aggregate-error (Segment's dependency) puts every inner error, stack included, in its message.
  return message
    .split('\n')
    .filter((line) => line.trim() && !line.trim().startsWith('at '))
    .map((line) => line.trim())
    .join('; ')
}

/** Segment: its `validate`, then its `transform`, on copies (its `@replace` writes into the mapping). */
export function segmentOutcome(mapping: object, event: object): Outcome {
  try {
    segmentValidate(structuredClone(mapping))
  } catch (error) {
    return { kind: 'refused', message: messageOf(error) }
  }
  try {
    return { kind: 'value', value: segmentTransform(structuredClone(mapping), structuredClone(event)) }
  } catch (error) {
    return { kind: 'failed', message: messageOf(error) }
  }
}

/** Ours: `checkMapping`, and `applyMapping`, which may throw only MappingError. */
export function ourOutcome(mapping: object, event: object): { issues: string[]; outcome: Outcome } {
  const issues = checkMapping(mapping).map((issue) => `${issue.path}: ${issue.message}`)
  try {
    return { issues, outcome: { kind: 'value', value: applyMapping(mapping, event) } }
  } catch (error) {
    if (!(error instanceof MappingError)) throw error
    return { issues, outcome: { kind: 'failed', message: error.message } }
  }
}

/**
 * Classes of problems checkMapping reports although Segment's `validate` accepts the mapping. Each is
 * listed in docs/mapping.md ("What checkMapping adds"); evaluation still matches Segment in all of them.
 */
const RUNTIME_ONLY: ReadonlyArray<readonly [RegExp, RegExp]> = [
  // Segment's @if throws on every evaluation without a truthy `exists` or `blank`.
  [/(^|\.)@if$/, /^needs an "exists" or a "blank" condition/],
  // @case throws without an operator, and on every string value with an operator other than lower/upper.
  [/(^|\.)@case\.operator$/, /^(is required|must be "lower" or "upper")/],
  // @flatten throws without a (non-empty) separator.
  [/(^|\.)@flatten\.separator$/, /^(is required|must be a non-empty string)/],
  // @merge throws without a direction; "LEFT" passes Segment's validate but then merges to the right.
  [/(^|\.)@merge\.direction$/, /^(is required|must be "left" or "right")/],
  // @json throws on a falsy `value`; "ENCODE" passes Segment's validate but then yields nothing.
  [/(^|\.)@json\.value$/, /^must not be null/],
  [/(^|\.)@json\.mode$/, /^must be "encode" or "decode"/],
  // Segment's validate ignores pattern2/replacement2; its evaluation applies the 10-character limit.
  [/(^|\.)@replace\.(pattern2|replacement2)$/, /^must be a string of/],
]

/**
 * Where Segment's `validate` does not look: inside arrays (other than @arrayPath's pair and @merge's
 * objects), and inside the plain object or array given to @literal / @excludeWhenNull.
 */
function isBeyondSegmentValidate(path: string): boolean {
  const parts = path.split('.')
  return parts.some((part, index) => {
    const parent = parts[index - 1]
    if (/^\d+$/.test(part) && index > 0 && parent !== '@arrayPath' && parent !== 'objects') return true
    return (parent === '@literal' || parent === '@excludeWhenNull') && part[0] !== '@'
  })
}

export function explainsStricterIssue(issue: string): boolean {
  const at = issue.indexOf(': ')
  const path = issue.slice(0, at)
  const message = issue.slice(at + 2)
  return (
    isBeyondSegmentValidate(path) ||
    RUNTIME_ONLY.some(([where, what]) => where.test(path) && what.test(message))
  )
}

export type Verdict =
  | 'refused by both'
  | 'same value'
  | 'both failed'
  | 'same value, stricter check'
  | 'both failed, stricter check'

/**
 * Compares the two evaluators on one case and asserts the rules of docs/mapping.md:
 * - a mapping Segment's validate refuses, checkMapping refuses too;
 * - a mapping Segment's validate accepts evaluates the same (the same value, or both fail);
 * - any problem checkMapping reports on such a mapping belongs to a documented stricter class.
 */
export function compareWithSegment(mapping: object, event: object): Verdict {
  const segment = segmentOutcome(mapping, event)
  const ours = ourOutcome(mapping, event)
  const context = { mapping, event, segment, ours }
  if (segment.kind === 'refused') {
    expect(ours.issues, `checkMapping accepts what Segment refuses: ${JSON.stringify(context)}`).not.toEqual(
      [],
    )
    return 'refused by both'
  }
  if (segment.kind === 'value') {
    expect(ours.outcome, `evaluation differs: ${JSON.stringify(context)}`).toStrictEqual(segment)
  } else {
    expect(ours.outcome.kind, `evaluation differs: ${JSON.stringify(context)}`).toBe('failed')
  }
  const unexplained = ours.issues.filter((issue) => !explainsStricterIssue(issue))
  expect(unexplained, `unexplained checkMapping issues: ${JSON.stringify(context)}`).toEqual([])
  const base = segment.kind === 'value' ? 'same value' : 'both failed'
  return ours.issues.length ? `${base}, stricter check` : base
}
