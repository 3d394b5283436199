// Where applyMapping deliberately differs from Segment's `transform`, shown side by side so the test
// fails if either side changes. Each case is listed in docs/mapping.md, "Deviations from Segment", and
// left out of the differential test's generators.
import { describe, expect, it } from 'vitest'
import { MappingError } from '../../src/errors'
import { applyMapping, checkMapping } from '../../src/mapping/index'
import { segmentTransform } from './segment-oracle'

const event = { userId: 'u1', traits: { email: 'ann@example.com', n: 5 } }

describe('deviations from Segment', () => {
  it('an undefined event is refused, where Segment’s transform evaluates the mapping against {}', () => {
    const fields = { a: 'literal', b: { '@path': '$.userId' } }
    expect(segmentTransform(fields, undefined as never)).toEqual({ a: 'literal' })
    expect(() => applyMapping(fields, undefined as never)).toThrow(
      'The event must be an object (Received: undefined)',
    )
  })

  it.each([
    ['$.constructor', 'constructor'],
    ['$.traits.hasOwnProperty', 'hasOwnProperty'],
    ['$.traits.email.toUpperCase', 'toUpperCase'],
    ['$.traits.n.toFixed', 'toFixed'],
  ])('@path %s reads own properties only: undefined, where Segment returns the inherited function', (p) => {
    expect(typeof (segmentTransform({ v: { '@path': p } }, event) as { v: unknown }).v).toBe('function')
    expect(applyMapping({ v: { '@path': p } }, event)).toEqual({})
  })

  it('@path $.__proto__ gives undefined, where Segment returns (a copy of) Object.prototype', () => {
    expect(segmentTransform({ v: { '@path': '$.__proto__' } }, event)).toEqual({ v: {} })
    expect(applyMapping({ v: { '@path': '$.__proto__' } }, event)).toEqual({})
  })

  it('@template renders inherited names as "", where Segment prints the function source', () => {
    const fields = { v: { '@template': '{{constructor}}' } }
    expect((segmentTransform(fields, event) as { v: string }).v).toContain('function Object()')
    expect(applyMapping(fields, event)).toEqual({ v: '' })
  })

  it('a __proto__ key in event data is dropped; Segment makes it the prototype of the copy', () => {
    const input = JSON.parse('{"traits": {"__proto__": {"isAdmin": true}, "email": "a@b.c"}}') as object
    const fields = { traits: { '@path': '$.traits' } }

    const theirs = segmentTransform(fields, input) as { traits: Record<string, unknown> }
    expect(Object.keys(theirs.traits)).toEqual(['email'])
    expect(theirs.traits.isAdmin).toBe(true) // inherited from the attacker's object

    const ours = applyMapping(fields, input) as { traits: Record<string, unknown> }
    expect(ours.traits).toStrictEqual({ email: 'a@b.c' })
    expect(Object.getPrototypeOf(ours.traits)).toBe(Object.prototype)
    expect(ours.traits.isAdmin).toBeUndefined()
  })

  it.each([
    ['@merge', { '@merge': { direction: 'right', objects: [{ '@path': '$.traits' }] } }],
    ['@excludeWhenNull', { '@excludeWhenNull': { '@path': '$.traits' } }],
    [
      '@json decode',
      { '@json': { mode: 'decode', value: '{"__proto__": {"isAdmin": true}, "email": "a@b.c"}' } },
    ],
  ])('%s never gives a result a prototype from data', (_name, directive) => {
    const input = JSON.parse('{"traits": {"__proto__": {"isAdmin": true}, "email": "a@b.c"}}') as object
    const result = applyMapping({ v: directive }, input) as { v: Record<string, unknown> }
    expect(Object.getPrototypeOf(result.v)).toBe(Object.prototype)
    expect(result.v.isAdmin).toBeUndefined()
    expect(Object.keys(result.v)).toEqual(['email'])
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
  })

  it('@flatten turns a __proto__ key of data into a harmless dotted key, as Segment does', () => {
    const input = JSON.parse('{"traits": {"__proto__": {"isAdmin": true}, "email": "a@b.c"}}') as object
    const fields = { v: { '@flatten': { separator: '.', value: { '@path': '$.traits' } } } }
    const expected = { v: { '__proto__.isAdmin': true, email: 'a@b.c' } }
    expect(segmentTransform(fields, input)).toStrictEqual(expected)
    expect(applyMapping(fields, input)).toStrictEqual(expected)
  })

  it.each([
    ['@liquid', { '@liquid': '{{ traits.email | upcase }}' }, 'ANN@EXAMPLE.COM'],
    [
      '@transform',
      { '@transform': { apply: { e: { '@path': '$.traits.email' } }, mapping: { '@path': '$.e' } } },
      'ann@example.com',
    ],
  ])('%s is refused; Segment evaluates it', (_name, directive, segmentValue) => {
    expect(segmentTransform({ v: directive }, event)).toEqual({ v: segmentValue })
    expect(() => applyMapping({ v: directive }, event)).toThrow(MappingError)
    expect(checkMapping({ v: directive })).toHaveLength(1)
  })

  it.each([
    ['a top-level directive', { '@path': '$.traits' }, { email: 'ann@example.com', n: 5 }],
    ['an array', [{ '@path': '$.userId' }], { 0: 'u1' }],
  ])(
    'a mapping must be an object of fields: %s is refused; Segment evaluates it',
    (_name, fields, segmentValue) => {
      expect(segmentTransform(fields as object, event)).toEqual(segmentValue)
      expect(() => applyMapping(fields, event)).toThrow(MappingError)
      expect(checkMapping(fields)).toHaveLength(1)
    },
  )

  it('the mapping is never changed; Segment writes defaults into @replace options', () => {
    const theirs = { v: { '@replace': { pattern: 'a', value: 'banana' } } }
    segmentTransform(theirs, event)
    expect(theirs.v['@replace']).toEqual({
      pattern: 'a',
      value: 'banana',
      replacement: '',
      ignorecase: false,
      global: true,
    })

    const ours = { v: { '@replace': { pattern: 'a', value: 'banana' } } }
    applyMapping(ours, event)
    expect(ours.v['@replace']).toEqual({ pattern: 'a', value: 'banana' })
  })
})
