// The trigger evaluator that ships to browsers: no parser, no dependencies. It gives the same answer as
// Segment's `validate(parseFql(text), event)` for the node `parseTrigger(text)` returns, including
// Segment's coercions (docs/triggers.md lists them).
import type { TriggerNode } from './trigger-node'

/** Whether `event` matches the trigger. `null` and `undefined` events never match. */
export function matchesTrigger(node: TriggerNode, event: object): boolean {
  return event != null && test(node, event)
}

function test(node: TriggerNode, event: object): boolean {
  if ('children' in node) {
    const { op, children } = node
    return op === 'or'
      ? children.some((child) => test(child, event))
      : op === 'and' && children.every((child) => test(child, event))
  }
  const { op, value } = node
  // Like Segment's path lookup: each step goes on only from a truthy value, so `a.b` on `{ a: 0 }` is 0.
  let actual: unknown = event
  for (const key of node.field.split('.')) actual = actual && (actual as Record<string, unknown>)[key]
  const text = String(value)
  const number = Number(value)
  // Comparisons with NaN are false, which is what Segment answers for anything that is not a number.
  const n = typeof actual == 'number' ? actual : NaN
  const s = typeof actual == 'string' ? actual : undefined
  switch (op) {
    case '=':
      return actual === text
    case '!=':
      return actual !== text
    case 'number_equals':
      return n === number
    case 'number_not_equals':
      return typeof actual == 'number' && actual !== number
    case '<':
      return n < number
    case '<=':
      return n <= number
    case '>':
      return n > number
    case '>=':
      return n >= number
    case 'contains':
      return s !== undefined && s.includes(text)
    case 'not_contains':
      return s !== undefined && !s.includes(text)
    case 'starts_with':
      return s !== undefined && s.startsWith(text)
    case 'not_starts_with':
      return s !== undefined && !s.startsWith(text)
    case 'ends_with':
      return s !== undefined && s.endsWith(text)
    case 'not_ends_with':
      return s !== undefined && !s.endsWith(text)
    case 'exists':
      return actual != null
    case 'not_exists':
      return actual == null
    case 'is_true':
      return actual === true
    case 'is_false':
      return actual === false
    default:
      return false
  }
}
