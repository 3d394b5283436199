// The parsed form of a trigger (Segment's subscription language): plain JSON, so the proxy can serve it
// to browsers, which then need only the evaluator (match-trigger.ts) and never the parser.

/** Operators, with Segment's names and Segment's semantics (see docs/triggers.md). */
export type TriggerOperator =
  | '='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'number_equals'
  | 'number_not_equals'
  | 'contains'
  | 'not_contains'
  | 'starts_with'
  | 'not_starts_with'
  | 'ends_with'
  | 'not_ends_with'
  | 'exists'
  | 'not_exists'
  | 'is_true'
  | 'is_false'

/**
 * What a condition reads: a top-level field of the event, or a dotted path under `properties`, `traits`
 * or `context`. Path segments are never empty and never contain `.`, `[` or `]`.
 */
export type TriggerField =
  'type' | 'event' | 'name' | 'userId' | `properties.${string}` | `traits.${string}` | `context.${string}`

/** One comparison. `value` is absent for `exists`, `not_exists`, `is_true` and `is_false`. */
export interface TriggerCondition {
  field: TriggerField
  op: TriggerOperator
  value?: string | number | boolean
}

/** Conditions (or groups) joined by one connective. `children` is never empty. */
export interface TriggerGroup {
  op: 'and' | 'or'
  children: TriggerNode[]
}

export type TriggerNode = TriggerGroup | TriggerCondition

export const TRIGGER_OPERATORS: readonly TriggerOperator[] = [
  '=',
  '!=',
  '<',
  '<=',
  '>',
  '>=',
  'number_equals',
  'number_not_equals',
  'contains',
  'not_contains',
  'starts_with',
  'not_starts_with',
  'ends_with',
  'not_ends_with',
  'exists',
  'not_exists',
  'is_true',
  'is_false',
]

const FIELD = /^(?:type|event|name|userId|(?:properties|traits|context)(?:\.[^.[\]]+)+)$/

/**
 * Whether `value` is a well-formed `TriggerNode` (for JSON received over the wire, e.g. the settings a
 * browser plugin fetches). Numbers must be finite: JSON cannot carry the others.
 */
export function isTriggerNode(value: unknown, depth = 0): value is TriggerNode {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || depth > 8) return false
  const node = value as Record<string, unknown>
  if ('children' in node) {
    const { op, children } = node
    return (
      (op === 'and' || op === 'or') &&
      Array.isArray(children) &&
      children.length > 0 &&
      Object.keys(node).length === 2 &&
      children.every((child) => isTriggerNode(child, depth + 1))
    )
  }
  const { field, op, value: operand } = node
  const keys = Object.keys(node).length
  return (
    typeof field === 'string' &&
    FIELD.test(field) &&
    TRIGGER_OPERATORS.includes(op as TriggerOperator) &&
    (operand === undefined
      ? keys === 2 || (keys === 3 && 'value' in node)
      : keys === 3 &&
        (typeof operand === 'string' ||
          typeof operand === 'boolean' ||
          (typeof operand === 'number' && Number.isFinite(operand))))
  )
}
