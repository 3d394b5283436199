// Renders a TriggerNode back as trigger text that both `parseTrigger` and Segment's `parseFql` read with
// the same meaning (operators are written infix, e.g. `event contains "x"`, never as contains(), because
// Segment's parser ends a parenthesised group at the `)` of a function call).
import type { TriggerCondition, TriggerNode } from './trigger-node'

const TOP_LEVEL = new Set(['type', 'event', 'name', 'userId'])

/**
 * Trigger text for a node returned by `parseTrigger`: parsing it again gives a node that matches exactly
 * the same events. Segment's language has no escapes in strings, so a value containing `"` cannot be
 * written; such a value is rendered as is.
 */
export function formatTrigger(node: TriggerNode): string {
  return 'children' in node ? list(node.op, node.children, true) : condition(node)
}

function list(op: 'and' | 'or', children: readonly TriggerNode[], top: boolean): string {
  let ordered = children
  let wrapFirst = false
  if (op === 'or' && children.length > 1 && children.slice(0, -1).every(endsInWord)) {
    // Segment takes the token after a word operator (`event exists`) as its value, so an "or" right after
    // one is never seen; when no "or" is seen Segment joins with "and". Start with another condition, or
    // (top level only) put the first one in parentheses.
    const plain = children.findIndex((child) => !endsInWord(child))
    if (plain >= 0) ordered = [children[plain] as TriggerNode, ...children.filter((_, i) => i !== plain)]
    else wrapFirst = top
  }
  return ordered
    .map((child, i) => {
      if ('children' in child) return `(${list(child.op, child.children, false)})`
      return wrapFirst && i === 0 ? `(${condition(child)})` : condition(child)
    })
    .join(` ${op} `)
}

function endsInWord(node: TriggerNode): boolean {
  if ('children' in node) return false
  const { field, op } = node
  if (op === 'exists' || op === 'not_exists') return field === 'type' || field === 'event'
  if (op === 'is_true' || op === 'is_false') return field === 'type' || field === 'event' || field === 'name'
  return false
}

function condition(node: TriggerCondition): string {
  const { op, value } = node
  const field = fieldText(node.field)
  const top = TOP_LEVEL.has(node.field)
  const text = `"${String(value)}"`
  switch (op) {
    case 'exists':
    case 'not_exists':
      if (node.field === 'type' || node.field === 'event') return `${field} ${op}`
      return `${field} ${op === 'exists' ? '!=' : '='} null`
    case 'is_true':
    case 'is_false':
      if (node.field === 'type' || node.field === 'event' || node.field === 'name') return `${field} ${op}`
      return `${field} = ${op === 'is_true' ? 'true' : 'false'}`
    case 'number_equals':
    case 'number_not_equals': {
      // `properties.x = 5` means number_equals, but `event = 5` compares text: keep the word there.
      const literal = numberText(value)
      if (literal === undefined || top) return `${field} ${op} ${operand(value)}`
      return `${field} ${op === 'number_equals' ? '=' : '!='} ${literal}`
    }
    case '<':
    case '<=':
    case '>':
    case '>=':
      return `${field} ${op} ${operand(value)}`
    default:
      // = and != compare with the value as text; a quoted literal keeps that meaning for every field.
      return `${field} ${op} ${text}`
  }
}

/** A literal with the same Number() as `value`: the number, true/false, or the text in quotes. */
function operand(value: unknown): string {
  return typeof value === 'boolean' ? String(value) : (numberText(value) ?? `"${String(value)}"`)
}

/** A number as a literal Segment's lexer reads back to the same number, or undefined. */
function numberText(value: unknown): string | undefined {
  const text = typeof value === 'number' ? String(value) : ''
  return /^-?\d+(?:\.\d+)?$/.test(text) ? text : undefined
}

/** `properties.first name` → `properties.first\ name`, with Segment's backslash escapes. */
function fieldText(field: string): string {
  const [root = '', ...segments] = field.split('.')
  return [
    root,
    ...segments.map((segment) => {
      const escaped = segment.replace(/[^A-Za-z0-9_-]/g, '\\$&')
      // A segment must start like an identifier and must not read as a keyword.
      return /^[0-9-]/.test(escaped) || /^(?:and|or|null)$/.test(escaped) ? `\\${escaped}` : escaped
    }),
  ].join('.')
}
