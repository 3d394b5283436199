import { describe, expect, it } from 'vitest'
import { formatTrigger, isTriggerNode, parseTrigger, type TriggerNode } from '../../src/trigger/index'

describe('formatTrigger', () => {
  it.each([
    ['type = "track" and event = "Transaction Created"', 'type = "track" and event = "Transaction Created"'],
    ['type="track",event="Order"', 'type = "track" and event = "Order"'],
    [
      '(type = "track" or type = "page") and userId != null',
      '(type = "track" or type = "page") and userId != null',
    ],
    ['contains(event, "Order")', 'event contains "Order"'],
    ['(type = "track" and !match(event, "*ed"))', 'type = "track" and event not_ends_with "ed"'],
    ['properties.total = 10', 'properties.total = 10'],
    ['properties.total != "10"', 'properties.total != "10"'],
    ['event = 5', 'event = "5"'],
    ['event number_equals 5', 'event number_equals "5"'],
    ['properties.total number_equals true', 'properties.total number_equals true'],
    [`properties.total < ${'9'.repeat(400)}`, 'properties.total < "Infinity"'],
    ['properties.total < 0.0000001', 'properties.total < "1e-7"'],
    ['properties.flag = true', 'properties.flag = true'],
    ['properties.flag != true', 'properties.flag != "true"'],
    ['traits.email = null', 'traits.email = null'],
    ['event exists', 'event exists'],
    ['name is_true', 'name is_true'],
    ['properties.first\\ name = "Ann"', 'properties.first\\ name = "Ann"'],
    ['properties.items.\\0.sku exists', 'properties.items.\\0.sku != null'],
    ['properties.\\and exists', 'properties.\\and != null'],
    ['properties.a\\[0\\] exists', 'properties.a.\\0 != null'],
    // an "or" must follow a condition that does not end in a word operator, or Segment never sees it
    ['event exists or type = "page" or name exists', 'event exists or type = "page" or name != null'],
    ['(event exists) or (type exists) or name = "x"', 'name = "x" or event exists or type exists'],
    ['(event exists) or (type not_exists)', '(event exists) or type not_exists'],
  ])('%j → %j', (text, expected) => {
    const formatted = formatTrigger(parseTrigger(text))
    expect(formatted).toBe(expected)
    expect(formatTrigger(parseTrigger(formatted))).toBe(formatted)
  })
})

describe('isTriggerNode', () => {
  it('accepts what parseTrigger returns, after a JSON round trip', () => {
    const node = parseTrigger(
      '(type = "track" or type = "page") and properties.total > 5 and traits.vip = true',
    )
    expect(isTriggerNode(JSON.parse(JSON.stringify(node)))).toBe(true)
  })

  it.each<[string, unknown]>([
    ['null', null],
    ['an array', [{ field: 'type', op: '=', value: 'track' }]],
    ['an unknown field', { field: 'anonymousId', op: 'exists' }],
    ['a path with an empty segment', { field: 'properties..a', op: 'exists' }],
    ['a path with a bracket', { field: 'properties.a[0]', op: 'exists' }],
    ['a root without a path', { field: 'properties', op: 'exists' }],
    ['an unknown operator', { field: 'type', op: '==', value: 'track' }],
    ['a null value', { field: 'type', op: '=', value: null }],
    ['a non-finite number', { field: 'properties.a', op: '<', value: Number.POSITIVE_INFINITY }],
    ['an extra key', { field: 'type', op: '=', value: 'track', note: 'x' }],
    ['an empty group', { op: 'and', children: [] }],
    ['an unknown connective', { op: 'xor', children: [{ field: 'type', op: 'exists' }] }],
    [
      'a bad child',
      {
        op: 'or',
        children: [
          { field: 'type', op: 'exists' },
          { field: 'x', op: 'exists' },
        ],
      },
    ],
  ])('refuses %s', (_, value) => {
    expect(isTriggerNode(value)).toBe(false)
  })

  it.each<[string, TriggerNode]>([
    ['a condition without value', { field: 'userId', op: 'exists' }],
    ['a nested path with spaces', { field: 'traits.first name', op: '=', value: 'Ann' }],
    [
      'a group',
      {
        op: 'or',
        children: [
          { field: 'type', op: '=', value: 'track' },
          { field: 'name', op: 'exists' },
        ],
      },
    ],
  ])('accepts %s', (_, value) => {
    expect(isTriggerNode(value)).toBe(true)
  })
})
