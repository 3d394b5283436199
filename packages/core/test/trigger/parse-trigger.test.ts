import { describe, expect, it } from 'vitest'
import { TriggerParseError } from '../../src/errors'
import { MAX_TRIGGER_LENGTH, parseTrigger, type TriggerNode } from '../../src/trigger/index'

const track = { field: 'type', op: '=', value: 'track' } as const

describe('parseTrigger: the tree it builds', () => {
  it.each<[string, TriggerNode]>([
    ['type = "track"', track],
    [
      'type = "track" and event = "Order Completed"',
      { op: 'and', children: [track, { field: 'event', op: '=', value: 'Order Completed' }] },
    ],
    [
      'type = "track", event = "Transaction Created"',
      { op: 'and', children: [track, { field: 'event', op: '=', value: 'Transaction Created' }] },
    ],
    [
      'event = "A" or event = "B" or event = "C"',
      {
        op: 'or',
        children: [
          { field: 'event', op: '=', value: 'A' },
          { field: 'event', op: '=', value: 'B' },
          { field: 'event', op: '=', value: 'C' },
        ],
      },
    ],
    [
      '(type = "track" or type = "page") and userId exists',
      {
        op: 'and',
        children: [
          { op: 'or', children: [track, { field: 'type', op: '=', value: 'page' }] },
          { field: 'userId', op: 'exists' },
        ],
      },
    ],
    ['(type = "track")', track],
    [' \t(type="track")\n', track],
    // numbers: Segment turns "= 10" on a path into number_equals, and keeps text for top-level fields
    ['properties.total > 10', { field: 'properties.total', op: '>', value: 10 }],
    ['properties.total = 10', { field: 'properties.total', op: 'number_equals', value: 10 }],
    ['properties.total != -2.5', { field: 'properties.total', op: 'number_not_equals', value: -2.5 }],
    ['properties.total = "10"', { field: 'properties.total', op: '=', value: '10' }],
    ['properties.zero = -0', { field: 'properties.zero', op: 'number_equals', value: 0 }],
    ['properties.x = +.5', { field: 'properties.x', op: 'number_equals', value: 0.5 }],
    [`properties.total < ${'9'.repeat(400)}`, { field: 'properties.total', op: '<', value: 'Infinity' }],
    ['event = 5', { field: 'event', op: '=', value: '5' }],
    ['event = 007', { field: 'event', op: '=', value: '7' }],
    ['userId = 42', { field: 'userId', op: '=', value: '42' }],
    ['event number_equals 5', { field: 'event', op: 'number_equals', value: '5' }],
    // true, false and null
    ['properties.flag = true', { field: 'properties.flag', op: 'is_true' }],
    ['traits.vip = false', { field: 'traits.vip', op: 'is_false' }],
    ['properties.flag != true', { field: 'properties.flag', op: '!=', value: true }],
    ['properties.total < true', { field: 'properties.total', op: '<', value: true }],
    ['traits.email = null', { field: 'traits.email', op: 'not_exists' }],
    ['traits.email != null', { field: 'traits.email', op: 'exists' }],
    ['properties.total < null', { field: 'properties.total', op: '<', value: 'null' }],
    ['userId = null', { field: 'userId', op: 'not_exists' }],
    ['userId = true', { field: 'userId', op: 'is_true' }],
    ['name != null', { field: 'name', op: 'exists' }],
    ['name = true', { field: 'name', op: '=', value: 'true' }],
    ['event = null', { field: 'event', op: '=', value: 'null' }],
    ['type != null', { field: 'type', op: '!=', value: 'null' }],
    ['userId = \\null', { field: 'userId', op: 'not_exists' }],
    // word operators and Segment's function forms
    ['event contains "Order"', { field: 'event', op: 'contains', value: 'Order' }],
    ['properties.plan not_starts_with "p"', { field: 'properties.plan', op: 'not_starts_with', value: 'p' }],
    ['properties.a exists', { field: 'properties.a', op: 'exists' }],
    ['context.x is_false', { field: 'context.x', op: 'is_false' }],
    ['contains(event, "Order")', { field: 'event', op: 'contains', value: 'Order' }],
    ['!contains(traits.email, "@")', { field: 'traits.email', op: 'not_contains', value: '@' }],
    ['contains(properties.total, 10)', { field: 'properties.total', op: 'contains', value: '10' }],
    ['match(event, "Order*")', { field: 'event', op: 'starts_with', value: 'Order' }],
    ['match(event, "*Created")', { field: 'event', op: 'ends_with', value: 'Created' }],
    ['!match(name, "Ho*")', { field: 'name', op: 'not_starts_with', value: 'Ho' }],
    ['!match(name, "*me")', { field: 'name', op: 'not_ends_with', value: 'me' }],
    ['match(event, "*")', { field: 'event', op: 'starts_with', value: '' }],
    // paths: escapes, spaces around dots, and Segment's splitting at "." "[" "]"
    ['properties.a.b.c = "x"', { field: 'properties.a.b.c', op: '=', value: 'x' }],
    ['properties . a = "x"', { field: 'properties.a', op: '=', value: 'x' }],
    ['properties.first\\ name = "Ann"', { field: 'properties.first name', op: '=', value: 'Ann' }],
    ['properties.items.\\0.sku = "a"', { field: 'properties.items.0.sku', op: '=', value: 'a' }],
    ['properties.a\\[0\\] exists', { field: 'properties.a.0', op: 'exists' }],
    ['properties\\.a exists', { field: 'properties.a', op: 'exists' }],
    ['properties.\\and exists', { field: 'properties.and', op: 'exists' }],
    ['properties.or= 1', { field: 'properties.or', op: 'number_equals', value: 1 }],
    // strings are taken as written: Segment has no escapes
    ['event = "a\\b"', { field: 'event', op: '=', value: 'a\\b' }],
    ['event = "two\nlines"', { field: 'event', op: '=', value: 'two\nlines' }],
    ['event = "x) and (y"', { field: 'event', op: '=', value: 'x) and (y' }],
  ])('%j', (text, expected) => {
    expect(parseTrigger(text)).toEqual(expected)
  })

  it('returns plain JSON: the tree survives a JSON round trip unchanged', () => {
    const node = parseTrigger(
      `(type = "track" or type = "page") and properties.total < ${'9'.repeat(400)} and properties.zero = -0`,
    )
    expect(JSON.parse(JSON.stringify(node))).toEqual(node)
  })
})

function errorOf(text: string): string {
  try {
    parseTrigger(text)
  } catch (error) {
    if (!(error instanceof TriggerParseError)) throw error
    return `${error.position}: ${error.message}`
  }
  throw new TypeError(`parsed: ${text}`)
}

describe('parseTrigger: errors', () => {
  it('throws TriggerParseError with a code, status 400 and the position', () => {
    const error = (() => {
      try {
        parseTrigger('event == "a"')
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(TriggerParseError)
    expect(error).toMatchObject({ code: 'TRIGGER_PARSE_ERROR', status: 400, retryable: false, position: 6 })
  })

  it('says where and what it found, for every kind of mistake', () => {
    const texts = [
      '',
      'event == "a"',
      'event = track',
      "event = 'a'",
      'event = "a',
      'event = "a"and type = "b"',
      'Event = "a"',
      'type.x = "a"',
      'properties = 1',
      'properties.0 = 1',
      'properties.and = 1',
      'traits.\\. = 1',
      'event is "a"',
      'properties.total <=5',
      'properties.total !="a"',
      'event<5',
      'event = "a" AND type = "b"',
      '(event = "a")or(type = "b")',
      'event = "a" or type = "b" and userId = "c"',
      'properties.a exists or event = "a"',
      '(contains(event, "A") or event = "B")',
      '((event = "a"))',
      '(event = "a"',
      'event = "a")',
      '()',
      'event = "a" or',
      'and event = "a"',
      '!(event = "a")',
      'contains(type, "t")',
      'contains(event "a")',
      'match(event, "abc")',
      'match(event, 5)',
      'event = 5.',
      'event = -',
      'event = "a" and n"',
      'event\\',
      'event = "a" €',
      'event = "a"\r',
      'x'.repeat(MAX_TRIGGER_LENGTH + 1),
    ]
    expect(texts.map(errorOf)).toMatchInlineSnapshot(`
      [
        "0: Expected a condition at position 0, found the end of the trigger",
        "6: Expected an operator after "event" at position 6, found "=="",
        "8: Expected a value after "=" at position 8, found "track" (text values need double quotes)",
        "8: Strings take double quotes: the single quote at position 8 would stay part of the value in Segment",
        "8: Unterminated string at position 8: strings end with a double quote",
        "11: Expected a space, ",", ")" or the end after the string at position 8, found "a" at position 11",
        "0: Unknown field "Event" at position 0: expected type, event, name, userId, properties.<path>, traits.<path> or context.<path>",
        "0: "type.x" at position 0: type has no sub-fields",
        "0: "properties" at position 0 needs a path, e.g. properties.plan",
        "11: Expected a name after "." at position 11, found "0" (escape it: "\\0")",
        "11: Expected a name after "." at position 11, found "and" (escape it: "\\and")",
        "0: "traits.\\." at position 0 needs a path, e.g. traits.plan",
        "6: Expected an operator after "event" at position 6, found "is"",
        "19: Expected a space after "<=" at position 19, found "5"",
        "19: Expected a space after "!=" at position 19, found "\\""",
        "5: Unexpected character "<" after "event" at position 5",
        "12: Expected "and", "or", "," or the end of the trigger at position 12, found "AND" (write "and" in lower case)",
        "13: Expected "and", "or", "," or the end of the trigger at position 13, found "or" (put a space after "or": Segment only reads it as a connective when a space, "," or ")" follows)",
        "26: Cannot mix "and" and "or" without parentheses ("and" at position 26): Segment does not give "and" precedence, it joins the whole group with the last connective",
        "20: "or" at position 20 follows the word operator "exists": Segment takes the token after such an operator as its value, never sees this "or" and joins the conditions with "and". Write that condition as "!= null", "= null", "= true" or "= false", or put it in parentheses or last",
        "22: contains() must be the last condition inside parentheses ("or" at position 22): Segment ends the group at the ")" of contains(). Move it last, or write it as an operator (e.g. event contains "x")",
        "1: Parentheses cannot be nested ("(" at position 1): Segment's trigger parser fails on nested groups",
        "12: The "(" at position 0 is never closed",
        "11: Unexpected ")" at position 11: there is no "(" to close",
        "1: Expected a condition at position 1, found ")"",
        "14: Expected a condition at position 14, found the end of the trigger",
        "0: Expected a condition at position 0, found "and"",
        "0: "!" at position 0 can only negate contains() or match(), found "("",
        "9: contains() cannot read "type" (position 9): Segment drops such a condition",
        "15: Expected "," after the field of contains() at position 15, found "a"",
        "13: match() takes a pattern "abc*" (starts with) or "*abc" (ends with) with no other "*", at position 13, found "abc"",
        "13: match() takes a pattern "abc*" (starts with) or "*abc" (ends with) with no other "*", at position 13, found "5"",
        "8: Malformed number "5." at position 8",
        "8: Malformed number "-" at position 8",
        "16: Unexpected "n"" at the end of the trigger (position 16): Segment's lexer drops its last characters",
        "5: Nothing to escape after "\\" at position 5",
        "12: Unexpected character "€" at position 12",
        "11: Expected a space, ",", ")" or the end after the string at position 8, found "\\r" at position 11",
        "10000: A trigger may be at most 10000 characters long (Received: 10001 characters)",
      ]
    `)
  })

  it('refuses a value that is not a string', () => {
    expect(() => parseTrigger(42 as unknown as string)).toThrowErrorMatchingInlineSnapshot(
      `[TriggerParseError: A trigger must be a string (Received: number)]`,
    )
  })
})
