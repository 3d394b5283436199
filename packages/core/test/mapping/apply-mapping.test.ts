import { describe, expect, it } from 'vitest'
import { MappingError } from '../../src/errors'
import { applyMapping } from '../../src/mapping/index'

const event = {
  type: 'identify',
  userId: 'u1',
  anonymousId: 'anon-1',
  timestamp: '2026-11-28T10:00:00.000Z',
  traits: {
    email: 'Ann@Example.com',
    firstName: 'Ann',
    language: 'FR',
    age: 41,
    score: 0,
    vip: false,
    nickname: '',
    middleName: null,
    tags: ['a', 'b'],
    address: { city: 'Paris', geo: { lat: 48.8 }, note: null },
    orders: [
      { id: 'o1', total: 10 },
      { id: 'o2', total: 0 },
    ],
    json: '{"a":[1,2]}',
  },
  properties: { 0: 'zero', nested: { 0: { x: 'deep' } } },
}

/** Maps one field `v` and returns its value (undefined when the field was dropped). */
const map = (value: unknown, input: object = event) => applyMapping({ v: value }, input).v

const path = (p: string) => ({ '@path': p })

describe('applyMapping', () => {
  it.each<[string, unknown, unknown]>([
    ['a string', 'x', 'x'],
    ['a number', 3, 3],
    ['false', false, false],
    ['null', null, null],
    ['a string that looks like a path', '$.userId', '$.userId'],
    ['an object of literals', { a: [1, { b: null }] }, { a: [1, { b: null }] }],
  ])('keeps literals: %s', (_name, value, expected) => {
    expect(map(value)).toStrictEqual(expected)
  })

  it.each<[string, string, unknown]>([
    ['a top-level key', '$.userId', 'u1'],
    ['a nested key', '$.traits.address.city', 'Paris'],
    ['an object (copied)', '$.traits.address.geo', { lat: 48.8 }],
    ['an index in brackets', '$.traits.orders[1].id', 'o2'],
    ['an index after a dot', '$.traits.orders.0.id', 'o1'],
    ['a quoted key', '$.traits["firstName"]', 'Ann'],
    ['a numeric key of an object', '$.properties.nested.0.x', 'deep'],
    ['a string length', '$.traits.email.length', 15],
    ['a path without $.', 'traits.language', 'FR'],
    ['the whole event with $.', '$.', event],
    ['a missing key', '$.traits.nope', undefined],
    ['a key under a missing key', '$.nope.deeper', undefined],
    ['null', '$.traits.middleName', null],
    ['a key under null: null, as in Segment', '$.traits.middleName.x', null],
    ['a key under 0: 0, as in Segment', '$.traits.score.x', 0],
    ['a key under "": "", as in Segment', '$.traits.nickname.x', ''],
    ['an inherited name: undefined (Segment gives the function)', '$.constructor', undefined],
    ['an inherited method of a string: undefined', '$.userId.toUpperCase', undefined],
  ])('@path reads %s', (_name, p, expected) => {
    expect(map(path(p))).toStrictEqual(expected)
  })

  it('@path returns copies, never the event objects themselves', () => {
    const result = applyMapping({ address: path('$.traits.address') }, event)
    expect(result.address).toStrictEqual(event.traits.address)
    expect(result.address).not.toBe(event.traits.address)
  })

  it('drops fields whose value is undefined, at every depth, but keeps array slots', () => {
    const result = applyMapping(
      { a: path('$.nope'), b: { c: path('$.nope'), d: 1 }, e: [path('$.nope'), 2] },
      event,
    )
    expect(result).toStrictEqual({ b: { d: 1 }, e: [undefined, 2] })
  })

  it.each<[string, string, string]>([
    ['values', 'Hi {{traits.firstName}}!', 'Hi Ann!'],
    [
      'numbers, false and null',
      '{{traits.age}}/{{traits.score}}/{{traits.vip}}/{{traits.middleName}}',
      '41/0/false/',
    ],
    ['missing values as ""', '[{{traits.nope}}]', '[]'],
    [
      'arrays and objects as JavaScript prints them',
      '{{traits.tags}} {{traits.address}}',
      'a,b [object Object]',
    ],
    ['triple braces and spaces', '{{{traits.firstName}}} {{ traits.language }}', 'Ann FR'],
    ['indexes', '{{traits.orders[1].id}} {{traits.tags.0}}', 'o2 a'],
    ['no $. prefix (it reads a key named "$")', '{{$.userId}}', ''],
  ])('@template renders %s', (_name, template, expected) => {
    expect(map({ '@template': template })).toBe(expected)
  })

  it.each<[string, object, unknown]>([
    ['exists: then', { exists: path('$.traits.email'), then: 'yes', else: 'no' }, 'yes'],
    ['exists: else', { exists: path('$.traits.nope'), then: 'yes', else: 'no' }, 'no'],
    ['exists: null does not exist', { exists: path('$.traits.middleName'), then: 'yes', else: 'no' }, 'no'],
    ['exists: "" exists', { exists: path('$.traits.nickname'), then: 'yes', else: 'no' }, 'yes'],
    ['blank: "" is blank', { blank: path('$.traits.nickname'), then: 'filled', else: 'blank' }, 'blank'],
    [
      'blank: 0 is blank (loose equality, as in Segment)',
      { blank: path('$.traits.score'), then: 'filled', else: 'blank' },
      'blank',
    ],
    [
      'blank: a value is filled',
      { blank: path('$.traits.firstName'), then: 'filled', else: 'blank' },
      'filled',
    ],
    ['no then: nothing', { exists: path('$.userId') }, undefined],
    ['a falsy else is ignored, as in Segment', { exists: path('$.nope'), then: 1, else: 0 }, undefined],
    ['directives in branches', { exists: path('$.nope'), then: 1, else: path('$.traits.language') }, 'FR'],
  ])('@if %s', (_name, options, expected) => {
    expect(map({ '@if': options })).toStrictEqual(expected)
  })

  it.each<[string, unknown, unknown]>([
    ['@literal keeps a value', { '@literal': { a: 1 } }, { a: 1 }],
    ['@literal still evaluates directives inside, as in Segment', { '@literal': path('$.userId') }, 'u1'],
    ['@case lower', { '@case': { operator: 'lower', value: path('$.traits.email') } }, 'ann@example.com'],
    ['@case upper', { '@case': { operator: 'upper', value: path('$.traits.email') } }, 'ANN@EXAMPLE.COM'],
    ['@case passes non-strings through', { '@case': { operator: 'upper', value: path('$.traits.age') } }, 41],
    [
      '@replace everywhere by default',
      { '@replace': { pattern: 'a', replacement: 'o', value: 'banana' } },
      'bonono',
    ],
    [
      '@replace once',
      { '@replace': { pattern: 'a', replacement: 'o', value: 'banana', global: false } },
      'bonana',
    ],
    ['@replace ignoring case', { '@replace': { pattern: 'A', value: 'aAb', ignorecase: true } }, 'b'],
    [
      '@replace a regex character literally',
      { '@replace': { pattern: '.', replacement: '_', value: 'a.b.c' } },
      'a_b_c',
    ],
    [
      '@replace with a second pattern',
      { '@replace': { pattern: 'a', pattern2: 'n', replacement2: 'm', value: 'banana' } },
      'bmm',
    ],
    [
      '@replace a number',
      { '@replace': { pattern: '4', replacement: '5', value: path('$.traits.age') } },
      '51',
    ],
    ['@replace an object: ""', { '@replace': { pattern: 'a', value: path('$.traits.address') } }, ''],
    [
      '@arrayPath maps items',
      { '@arrayPath': ['$.traits.orders', { n: path('$.id') }] },
      [{ n: 'o1' }, { n: 'o2' }],
    ],
    [
      '@arrayPath maps an object as one item',
      { '@arrayPath': ['$.traits.address', { c: path('$.city') }] },
      [{ c: 'Paris' }],
    ],
    ['@arrayPath without item mapping', { '@arrayPath': ['$.traits.tags'] }, ['a', 'b']],
    ['@arrayPath with a directive', { '@arrayPath': [path('$.traits.orders'), path('$.total')] }, [10, 0]],
    ['@json encode', { '@json': { mode: 'encode', value: path('$.traits.address.geo') } }, '{"lat":48.8}'],
    ['@json decode', { '@json': { mode: 'decode', value: path('$.traits.json') } }, { a: [1, 2] }],
    ['@json decode keeps what is not JSON', { '@json': { mode: 'decode', value: 'not json' } }, 'not json'],
    [
      '@flatten',
      { '@flatten': { separator: '.', value: path('$.traits.address') } },
      { city: 'Paris', 'geo.lat': 48.8, note: null },
    ],
    [
      '@flatten arrays',
      { '@flatten': { separator: '_', value: { t: path('$.traits.tags') } } },
      { t_0: 'a', t_1: 'b' },
    ],
    [
      '@flatten omitting arrays',
      { '@flatten': { separator: '_', value: { t: ['a'] }, omitArrays: true } },
      { t: ['a'] },
    ],
    [
      '@merge to the right',
      { '@merge': { direction: 'right', objects: [{ a: 1, b: 1 }, { b: 2 }] } },
      { a: 1, b: 2 },
    ],
    [
      '@merge to the left',
      { '@merge': { direction: 'left', objects: [{ a: 1, b: 1 }, { b: 2 }] } },
      { a: 1, b: 1 },
    ],
    [
      '@merge with event objects',
      { '@merge': { direction: 'right', objects: [path('$.traits.address.geo'), { x: 1 }] } },
      { lat: 48.8, x: 1 },
    ],
    ['@excludeWhenNull drops null', { '@excludeWhenNull': path('$.traits.middleName') }, undefined],
    [
      '@excludeWhenNull drops null keys',
      { '@excludeWhenNull': path('$.traits.address') },
      { city: 'Paris', geo: { lat: 48.8 } },
    ],
    ['@excludeWhenNull keeps other values', { '@excludeWhenNull': path('$.traits.score') }, 0],
    [
      'directives nested in directives',
      { '@case': { operator: 'upper', value: { '@template': '{{traits.firstName}}-{{traits.language}}' } } },
      'ANN-FR',
    ],
  ])('%s', (_name, value, expected) => {
    expect(map(value)).toStrictEqual(expected)
  })

  it('treats an object mixing a directive with other keys as plain data, as Segment does', () => {
    expect(map([{ '@path': '$.userId', other: 1 }])).toStrictEqual([{ '@path': '$.userId', other: 1 }])
  })

  it('accepts _metadata beside a directive', () => {
    expect(map({ '@path': '$.userId', _metadata: { label: 'User' } })).toBe('u1')
  })

  it('evaluates the default contact mapping of product.md', () => {
    const withElse = (p: string, otherwise: unknown) => ({
      '@if': { exists: path(p), then: path(p), else: otherwise },
    })
    const fields = {
      extRef: path('$.userId'),
      email: withElse('$.email', path('$.traits.email')),
      phone: path('$.traits.phone'),
      firstName: path('$.traits.firstName'),
      language: withElse('$.traits.language', 'EN'),
      unsubscribed: false,
    }
    expect(applyMapping(fields, event)).toStrictEqual({
      extRef: 'u1',
      email: 'Ann@Example.com',
      firstName: 'Ann',
      language: 'FR',
      unsubscribed: false,
    })
    expect(applyMapping(fields, { type: 'identify' })).toStrictEqual({ language: 'EN', unsubscribed: false })
  })

  it('compiles a mapping once and still gives each event its own result', () => {
    const fields = {
      email: path('$.traits.email'),
      plan: { '@if': { exists: path('$.plan'), then: path('$.plan'), else: 'free' } },
    }
    expect(applyMapping(fields, event)).toStrictEqual({ email: 'Ann@Example.com', plan: 'free' })
    expect(applyMapping(fields, { plan: 'pro' })).toStrictEqual({ plan: 'pro' })
    expect(applyMapping(fields, event)).toStrictEqual({ email: 'Ann@Example.com', plan: 'free' })
  })

  it('fails on a broken directive only when it is evaluated, as Segment does', () => {
    const fields = { a: { '@if': { exists: path('$.nope'), then: { '@nope': 1 }, else: 'fallback' } } }
    expect(applyMapping(fields, event)).toStrictEqual({ a: 'fallback' })
    expect(() => applyMapping(fields, { nope: 1 })).toThrow(MappingError)
  })

  it('never changes the mapping or the event', () => {
    const fields = {
      a: { '@replace': { pattern: 'a', value: path('$.traits.firstName') } },
      b: path('$.traits.address'),
    }
    const before = structuredClone({ fields, event })
    applyMapping(fields, event)
    expect({ fields, event }).toStrictEqual(before)
  })

  describe('errors', () => {
    it.each<[string, unknown]>([
      ['@path not a string', { a: { '@path': 5 } }],
      ['@template from a path that is not a string', { a: { '@template': path('$.traits.age') } }],
      ['@if without exists or blank, deep in arrays', { a: { b: [1, { '@if': { then: 1 } }] } }],
      ['@if not an object', { a: { '@if': 'x' } }],
      ['@liquid', { a: { '@liquid': '{{ traits.email }}' } }],
      ['@transform', { a: { '@transform': { apply: {}, mapping: {} } } }],
      ['an unknown directive', { a: { b: { '@nope': 1 } } }],
      ['@case with an unknown operator', { a: { '@case': { operator: 'title', value: 'ann' } } }],
      ['@replace with a long pattern', { a: { '@replace': { pattern: 'more-than-10', value: 'x' } } }],
      ['@arrayPath not an array', { a: { '@arrayPath': '$.traits.orders' } }],
      ['@json without a value', { a: { '@json': { mode: 'encode' } } }],
      ['@flatten without a separator', { a: { '@flatten': { value: {} } } }],
      ['@merge without objects', { a: { '@merge': { direction: 'left' } } }],
    ])('throws a MappingError naming the directive and its path: %s', (_name, fields) => {
      expect(() => applyMapping(fields, event)).toThrow(MappingError)
    })

    it('pins the messages', () => {
      const message = (fields: unknown, input: unknown = event) => {
        try {
          applyMapping(fields, input as object)
        } catch (error) {
          return (error as Error).message
        }
        return 'no error'
      }
      expect(message({ a: { b: [1, { '@if': { then: 1 } }] } })).toMatchInlineSnapshot(`
        "Cannot apply the mapping
          - a.b.1: @if has an invalid argument (Received: {"then":1})"
      `)
      expect(message({ a: { '@liquid': '{{ traits.email }}' } })).toMatchInlineSnapshot(`
        "Cannot apply the mapping
          - a: @liquid is not supported (Received: "{{ traits.email }}")"
      `)
      expect(message({ a: { '@transform': { apply: {}, mapping: {} } } })).toMatchInlineSnapshot(`
        "Cannot apply the mapping
          - a: @transform is not supported (Received: {"apply":{},"mapping":{}})"
      `)
      expect(message({ a: { b: { '@nope': 1 } } })).toMatchInlineSnapshot(`
        "Cannot apply the mapping
          - a.b: @nope is not a mapping directive (Received: 1)"
      `)
      expect(message({ a: { '@template': path('$.traits.age') } })).toMatchInlineSnapshot(`
        "Cannot apply the mapping
          - a: @template needs a string (Received: 41)"
      `)
      expect(message({ '@path': '$.userId' })).toMatchInlineSnapshot(
        `"A mapping must be an object of fields (Received: {"@path":"$.userId"})"`,
      )
      expect(message({ a: 1 }, 'not an event')).toMatchInlineSnapshot(
        `"The event must be an object (Received: "not an event")"`,
      )
    })

    it.each<[string, unknown, unknown]>([
      ['a mapping that is an array', [path('$.userId')], event],
      ['a mapping that is null', null, event],
      ['a top-level directive', { '@path': '$.traits' }, event],
      ['an event that is an array', { a: 1 }, []],
      ['an event that is null', { a: 1 }, null],
      [
        'a cyclic mapping',
        (() => {
          const cyclic: Record<string, unknown> = { a: path('$.userId') }
          cyclic.self = cyclic
          return cyclic
        })(),
        event,
      ],
      ['@json encoding a BigInt', { a: { '@json': { mode: 'encode', value: path('$.big') } } }, { big: 1n }],
      [
        '@json encoding a cycle',
        { a: { '@json': { mode: 'encode', value: path('$.loop') } } },
        (() => {
          const loop: Record<string, unknown> = {}
          loop.loop = loop
          return { loop }
        })(),
      ],
      ['a template value without a string form', { a: { '@template': '{{x}}' } }, { x: Object.create(null) }],
    ])('throws only MappingError on odd input: %s', (_name, fields, input) => {
      expect(() => applyMapping(fields, input as object)).toThrow(MappingError)
    })
  })
})
