// The trigger evaluator that ships to browsers: no parser, no dependencies. It gives the same answer as
// Segment's `validate(parseFql(text), event)` for the node `parseTrigger(text)` returns, including
// Segment's coercions (docs/triggers.md lists them).
import type { TriggerNode } from './trigger-node'

/** Whether `event` matches the trigger. `null` and `undefined` events never match. */
export function matchesTrigger(node: TriggerNode, event: object): boolean {
  return event != null && test(node, event)
}

const PATHS = new WeakMap<TriggerNode, string[]>()

function test(node: TriggerNode, event: object): boolean {
  if ('children' in node) {
    // "or" stops at the first match, "and" at the first miss; any other connective never matches.
    const any = node.op === 'or'
    if (!any && node.op !== 'and') return false
    for (const child of node.children) if (test(child, event) === any) return any
    return !any
  }
  const { op, value } = node
  // Split once per node: the same key strings each time make the property lookups cheap.
  let path = PATHS.get(node)
  if (!path) PATHS.set(node, (path = node.field.split('.')))
  // Like Segment's path lookup: each step goes on only from a truthy value, so `a.b` on `{ a: 0 }` is 0.
  let actual: unknown = event
  for (const key of path) actual = actual && (actual as Record<string, unknown>)[key]
  // Comparisons with NaN are false, which is what Segment answers for anything that is not a number.
  const n = typeof actual == 'number' ? actual : NaN
  const v = String(value)
  const x = Number(value)
  switch (op) {
    case '=':
      return actual === v
    case '!=':
      return actual !== v
    case 'number_equals':
      return n === x
    case 'number_not_equals':
      return typeof actual == 'number' && actual !== x
    case '<':
      return n < x
    case '<=':
      return n <= x
    case '>':
      return n > x
    case '>=':
      return n >= x
    case 'exists':
      return actual != null
    case 'not_exists':
      return actual == null
    case 'is_true':
      return actual === true
    case 'is_false':
      return actual === false
  }
  // The string operators and their `not_` forms: both are false for anything that is not a string.
  if (typeof actual != 'string') return false
  const not = op.startsWith('not_')
  const base = not ? op.slice(4) : op
  const found =
    base == 'contains'
      ? actual.includes(v)
      : base == 'starts_with'
        ? actual.startsWith(v)
        : base == 'ends_with'
          ? actual.endsWith(v)
          : undefined
  return found !== undefined && found !== not
}
