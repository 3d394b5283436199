import { describe, expect, it } from 'vitest'
import { checkMapping } from '../../src/mapping/index'

const path = (p: string) => ({ '@path': p })
const pathsOf = (mapping: unknown) => checkMapping(mapping).map((issue) => issue.path)

describe('checkMapping', () => {
  it.each<[string, unknown]>([
    ['literals', { a: 'x', b: 1, c: null, d: [1, { e: false }] }],
    ['@path and @template', { a: path('$.traits.email'), b: { '@template': 'Hi {{traits.firstName}}' } }],
    ['a dynamic path', { a: { '@path': { '@template': '$.traits.{{properties.key}}' } } }],
    [
      '@if with exists, blank, then, else',
      {
        a: { '@if': { exists: path('$.a'), then: 1, else: path('$.b') } },
        b: { '@if': { blank: path('$.a') } },
      },
    ],
    [
      '@literal and @excludeWhenNull',
      { a: { '@literal': { b: [1] } }, b: { '@excludeWhenNull': path('$.a') } },
    ],
    ['@case', { a: { '@case': { operator: 'upper', value: path('$.a') } } }],
    [
      '@replace with every option',
      {
        a: {
          '@replace': {
            pattern: 'a',
            replacement: 'b',
            pattern2: 'c',
            replacement2: '',
            value: 'x',
            ignorecase: true,
            global: false,
          },
        },
      },
    ],
    [
      '@arrayPath with and without item mapping',
      { a: { '@arrayPath': ['$.items', { sku: path('$.sku') }] }, b: { '@arrayPath': [path('$.items')] } },
    ],
    ['@json', { a: { '@json': { mode: 'encode', value: path('$.a') } } }],
    ['@flatten', { a: { '@flatten': { separator: '.', value: path('$.a'), omitArrays: true } } }],
    ['@merge', { a: { '@merge': { direction: 'left', objects: [path('$.a'), { b: 1 }] } } }],
    ['_metadata beside a directive', { a: { '@path': '$.a', _metadata: { label: 'A' } } }],
    ['an empty mapping', {}],
  ])('accepts %s', (_name, mapping) => {
    expect(checkMapping(mapping)).toEqual([])
  })

  it.each<[string, unknown, string[]]>([
    ['a mapping that is not an object', [1], ['']],
    ['a top-level directive', { '@path': '$.a' }, ['']],
    ['@path not a string', { a: { '@path': 5 } }, ['a.@path']],
    ['@template an object', { a: { '@template': { b: 1 } } }, ['a.@template']],
    ['two directives in one object', { a: { '@path': '$.a', '@template': 'x' } }, ['a']],
    ['a directive with another key', { a: { '@path': '$.a', b: 1 } }, ['a']],
    ['an unknown directive', { a: { '@nope': 1 } }, ['a']],
    ['@liquid', { a: { '@liquid': '{{ a }}' } }, ['a']],
    ['@transform', { a: { '@transform': { apply: {}, mapping: {} } } }, ['a']],
    ['@if not an object', { a: { '@if': 'x' } }, ['a.@if']],
    ['@if without exists or blank', { a: { '@if': { then: 1 } } }, ['a.@if']],
    ['@if with an empty exists', { a: { '@if': { exists: '', then: 1 } } }, ['a.@if']],
    ['@if with a directive for options', { a: { '@if': path('$.a') } }, ['a.@if']],
    ['@case without operator', { a: { '@case': { value: 'x' } } }, ['a.@case.operator']],
    [
      '@case with another operator',
      { a: { '@case': { operator: 'title', value: 'x' } } },
      ['a.@case.operator'],
    ],
    ['@case with a number value', { a: { '@case': { operator: 'lower', value: 1 } } }, ['a.@case.value']],
    [
      '@replace without pattern and value',
      { a: { '@replace': {} } },
      ['a.@replace.pattern', 'a.@replace.value'],
    ],
    [
      '@replace with long strings',
      { a: { '@replace': { pattern: 'abcdefghijk', replacement: 'abcdefghijk', value: 'x' } } },
      ['a.@replace.pattern', 'a.@replace.replacement'],
    ],
    [
      '@replace with a long pattern2',
      { a: { '@replace': { pattern: 'a', pattern2: 'abcdefghijk', value: 'x' } } },
      ['a.@replace.pattern2'],
    ],
    [
      '@replace with a null replacement',
      { a: { '@replace': { pattern: 'a', replacement: null, value: 'x' } } },
      ['a.@replace.replacement'],
    ],
    [
      '@replace with string flags',
      { a: { '@replace': { pattern: 'a', value: 'x', global: 'yes', ignorecase: 1 } } },
      ['a.@replace.ignorecase', 'a.@replace.global'],
    ],
    ['@arrayPath not an array', { a: { '@arrayPath': '$.items' } }, ['a.@arrayPath']],
    ['@arrayPath with a number path', { a: { '@arrayPath': [1] } }, ['a.@arrayPath.0']],
    [
      '@arrayPath with a bad item mapping',
      { a: { '@arrayPath': ['$.items', { b: { '@path': 1 } }] } },
      ['a.@arrayPath.1.b.@path'],
    ],
    ['@json without mode and value', { a: { '@json': {} } }, ['a.@json.mode', 'a.@json.value']],
    ['@json with mode in capitals', { a: { '@json': { mode: 'ENCODE', value: 'x' } } }, ['a.@json.mode']],
    ['@json with an empty value', { a: { '@json': { mode: 'encode', value: '' } } }, ['a.@json.value']],
    [
      '@flatten without separator and value',
      { a: { '@flatten': {} } },
      ['a.@flatten.separator', 'a.@flatten.value'],
    ],
    [
      '@flatten with an empty separator',
      { a: { '@flatten': { separator: '', value: {} } } },
      ['a.@flatten.separator'],
    ],
    ['@merge without direction', { a: { '@merge': { objects: [] } } }, ['a.@merge.direction']],
    [
      '@merge with objects not an array',
      { a: { '@merge': { direction: 'left', objects: {} } } },
      ['a.@merge.objects'],
    ],
    [
      '@merge with a string among objects',
      { a: { '@merge': { direction: 'left', objects: [{}, 'x'] } } },
      ['a.@merge.objects.1'],
    ],
    ['problems inside arrays', { a: [1, [{ '@path': 1 }]] }, ['a.1.0.@path']],
    ['problems inside @literal objects', { a: { '@literal': { b: { '@nope': 1 } } } }, ['a.@literal.b']],
    [
      'problems inside @if branches',
      { a: { '@if': { exists: 1, then: { b: path('$.a') }, else: { '@path': 2 } } } },
      ['a.@if.else.@path'],
    ],
    [
      "Segment's internal root key",
      { __segment_internal_directive: { '@transform': {} } },
      ['__segment_internal_directive'],
    ],
  ])('reports %s', (_name, mapping, paths) => {
    expect(pathsOf(mapping)).toEqual(paths)
  })

  it('lists every problem of a mapping at once, with where it is and what was received', () => {
    const issues = checkMapping({
      email: { '@path': 5 },
      language: { '@if': { then: 'EN' } },
      name: { '@liquid': '{{ traits.name }}' },
      data: { nested: [{ '@nope': true }], ok: path('$.a') },
      tags: { '@merge': { direction: 'up', objects: 'x' } },
      date: { '@replace': { pattern: '-', value: path('$.timestamp'), global: 'yes' } },
    })
    expect(issues).toMatchInlineSnapshot(`
      [
        {
          "message": "must be a string or a directive (Received: 5)",
          "path": "email.@path",
        },
        {
          "message": "needs an "exists" or a "blank" condition (Received: {"then":"EN"})",
          "path": "language.@if",
        },
        {
          "message": "uses @liquid, which is not supported (Received: "{{ traits.name }}")",
          "path": "name",
        },
        {
          "message": "uses "@nope", which is not a mapping directive (Received: true)",
          "path": "data.nested.0",
        },
        {
          "message": "must be "left" or "right" (Received: "up")",
          "path": "tags.@merge.direction",
        },
        {
          "message": "must be an array of objects or directives (Received: "x")",
          "path": "tags.@merge.objects",
        },
        {
          "message": "must be true or false (Received: "yes")",
          "path": "date.@replace.global",
        },
      ]
    `)
  })
})
