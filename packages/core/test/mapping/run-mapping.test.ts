// compileMapping + runMapping as the browser gets them: programs sent as JSON (the settings document,
// localStorage) and run without the compiler. The differential cases run through a JSON round trip of
// each program and must give Segment's result, and applyMapping's result and message.
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MappingError, RelayError } from '../../src/errors'
import { applyMapping, compileMapping, runMapping, type MappingProgram } from '../../src/mapping/index'
import { event as eventArbitrary, mapping as mappingArbitrary, nonObjectEvent } from './arbitraries'
import { DEFAULT_MAPPINGS, EVENTS, MAPPINGS, NON_OBJECT_EVENTS } from './segment-cases'
import { segmentOutcome } from './segment-oracle'

const overJson = (program: MappingProgram): MappingProgram => JSON.parse(JSON.stringify(program))

type Outcome = { value: unknown } | { message: string }

const run = (program: MappingProgram, input: object): Outcome => {
  try {
    return { value: runMapping(program, input) }
  } catch (error) {
    expect(error).toBeInstanceOf(RelayError)
    expect((error as RelayError).code).toBe('MAPPING_INVALID')
    return { message: (error as Error).message }
  }
}

const apply = (fields: object, input: object): Outcome => {
  try {
    return { value: applyMapping(fields, input) }
  } catch (error) {
    expect(error).toBeInstanceOf(MappingError)
    return { message: (error as Error).message }
  }
}

/** One case: the program survives JSON, and runs as applyMapping and Segment's transform evaluate. */
function compare(fields: Record<string, unknown>, input: Record<string, unknown>): void {
  const program = compileMapping(fields)
  const sent = overJson(program)
  // (Not toStrictEqual: it compares `constructor` properties, and a mapping may have a field of that name.)
  expect(isDeepStrictEqual(sent, program), JSON.stringify(program)).toBe(true)
  const ours = run(sent, input)
  expect(ours).toStrictEqual(apply(fields, input))
  const segment = segmentOutcome(fields, input)
  if (segment.kind === 'value') expect(ours).toStrictEqual({ value: segment.value })
  if (segment.kind === 'failed') expect(ours).toHaveProperty('message')
}

const handCases = Object.entries(MAPPINGS).flatMap(([name, fields]) =>
  Object.entries(EVENTS).map(([eventName, input]) => ({ name: `${name} (${eventName})`, fields, input })),
)

const nonObjectCases = Object.entries(MAPPINGS).flatMap(([name, fields]) =>
  Object.entries(NON_OBJECT_EVENTS).map(([eventName, input]) => ({
    name: `${name} (${eventName})`,
    fields,
    input,
  })),
)

describe('events that are not plain objects', () => {
  it.each(nonObjectCases)(
    'are refused as applyMapping and Segment refuse them: $name',
    ({ fields, input }) => {
      compare(fields, input as Record<string, unknown>)
      expect(segmentOutcome(fields, input as object).kind).not.toBe('value')
    },
  )

  it('are refused on 500 generated mappings (seed 20261203)', () => {
    fc.assert(
      fc.property(mappingArbitrary, nonObjectEvent, (fields, input) => {
        compare(fields, input as Record<string, unknown>)
        expect(run(compileMapping(fields), input as object)).toHaveProperty('message')
      }),
      { seed: 20261203, numRuns: 500 },
    )
  })

  it('say what they received', () => {
    expect(run(compileMapping({ a: 'literal' }), ['x'] as never)).toMatchInlineSnapshot(`
      {
        "message": "The event must be an object (Received: ["x"])",
      }
    `)
    expect(run(compileMapping({ a: { '@path': '$.userId' } }), null as never)).toMatchInlineSnapshot(`
      {
        "message": "The event must be an object (Received: null)",
      }
    `)
  })
})

describe('programs sent as JSON', () => {
  it.each(handCases)('evaluate as applyMapping and Segment do: $name', ({ fields, input }) => {
    compare(fields, input)
  })

  it('evaluate as applyMapping and Segment do on 1,500 generated mappings and events (seed 20261128)', () => {
    fc.assert(
      fc.property(mappingArbitrary, eventArbitrary, (fields, input) => compare(fields, input)),
      { seed: 20261128, numRuns: 1500 },
    )
  })

  it('are deterministic: the same mapping, or a copy of it, gives the same JSON', () => {
    for (const fields of Object.values(MAPPINGS)) {
      const text = JSON.stringify(compileMapping(fields))
      expect(JSON.stringify(compileMapping(fields))).toBe(text)
      expect(JSON.stringify(compileMapping(structuredClone(fields)))).toBe(text)
    }
  })

  it('carry no message text for the default mappings, and are smaller than them', () => {
    for (const fields of Object.values(DEFAULT_MAPPINGS)) {
      const program = JSON.stringify(compileMapping(fields))
      expect(program).not.toContain('Cannot apply')
      expect(program.length).toBeLessThan(JSON.stringify(fields).length)
    }
  })

  it('pins the format on a default mapping', () => {
    expect(compileMapping(DEFAULT_MAPPINGS.addContactToXmd)).toMatchInlineSnapshot(`
      {
        "directoryId": "POOL_1",
        "email": [
          5,
          [
            1,
            "email",
          ],
          0,
          [
            1,
            "email",
          ],
          [
            1,
            "traits",
            "email",
          ],
        ],
        "extRef": [
          1,
          "userId",
        ],
        "firstName": [
          1,
          "traits",
          "firstName",
        ],
        "language": [
          5,
          [
            1,
            "traits",
            "language",
          ],
          0,
          [
            1,
            "traits",
            "language",
          ],
          "EN",
        ],
        "lastName": [
          1,
          "traits",
          "lastName",
        ],
        "phone": [
          1,
          "traits",
          "phone",
        ],
        "unsubscribed": false,
      }
    `)
  })

  it('keep values JSON cannot carry: undefined, -0 and sparse slots', () => {
    const fields = { a: undefined, b: -0, c: [undefined, 1], d: { '@if': { exists: 1, else: 'x' } } }
    const program = overJson(compileMapping(fields))
    const result = runMapping(program, {})
    expect(result).toStrictEqual(applyMapping(fields, {}))
    expect(Object.is(result.b, -0)).toBe(true)
    expect(result.c).toStrictEqual([undefined, 1])
  })
})

describe('runMapping', () => {
  const input = { userId: 'u1', traits: { email: 'Ann@Example.com', age: 41, address: { city: 'Paris' } } }

  it('gives fresh objects and leaves the program and the event as they were', () => {
    const program = compileMapping({ address: { '@path': '$.traits.address' }, all: { '@path': '$.' } })
    const before = structuredClone({ program, input })
    const result = runMapping(program, input)
    expect(result.address).toStrictEqual(input.traits.address)
    expect(result.address).not.toBe(input.traits.address)
    expect(result.all).not.toBe(input)
    expect({ program, input }).toStrictEqual(before)
  })

  it('never writes __proto__, from the event or from the program', () => {
    const data = JSON.parse('{"traits": {"__proto__": {"isAdmin": true}, "email": "a@b.c"}}') as object
    const result = runMapping(compileMapping({ traits: { '@path': '$.traits' } }), data)
    expect(Object.getPrototypeOf(result.traits)).toBe(Object.prototype)
    expect(result.traits).toStrictEqual({ email: 'a@b.c' })

    const program = JSON.parse('{"__proto__": {"isAdmin": true}, "a": {"__proto__": [1, "userId"]}}')
    const mapped = runMapping(program as MappingProgram, input)
    expect(Object.getPrototypeOf(mapped)).toBe(Object.prototype)
    expect(Object.getPrototypeOf(mapped.a)).toBe(Object.prototype)
    expect(mapped).toStrictEqual({ a: {} })
  })

  it.each<[string, Record<string, unknown>]>([
    ['a directive Segment refuses', { a: { b: [1, { '@if': { then: 1 } }] } }],
    ['@liquid', { a: { '@liquid': '{{ traits.email }}' } }],
    ['an unknown directive', { a: { b: { '@nope': 1 } } }],
    [
      '@case with an unknown operator',
      { a: { '@case': { operator: 'title', value: { '@path': '$.userId' } } } },
    ],
    ['@replace with a long pattern', { a: { '@replace': { pattern: 'more-than-10', value: 'x' } } }],
    ['@path of a literal number', { a: { '@path': 5 } }],
    ['@template of a number read from the event', { a: { '@template': { '@path': '$.traits.age' } } }],
    ['@path of an object read from the event', { a: { '@path': { '@path': '$.traits' } } }],
    ['@path of nothing read from the event', { a: { '@path': { '@path': '$.nope' } } }],
    [
      '@flatten with a separator read from the event',
      { a: { '@flatten': { separator: { '@path': '$.traits.age' }, value: {} } } },
    ],
  ])('throws the message applyMapping throws: %s', (_name, fields) => {
    const message = (run(overJson(compileMapping(fields)), input) as { message: string }).message
    expect(message).toBe((apply(fields, input) as { message: string }).message)
  })

  it('pins the messages', () => {
    const message = (fields: Record<string, unknown>) =>
      (run(overJson(compileMapping(fields)), input) as { message: string }).message
    expect(message({ a: { b: [1, { '@if': { then: 1 } }] } })).toMatchInlineSnapshot(`
      "Cannot apply the mapping
        - a.b.1: @if has an invalid argument (Received: {"then":1})"
    `)
    expect(message({ a: { '@case': { operator: 'title', value: 'x' } } })).toMatchInlineSnapshot(`
      "Cannot apply the mapping
        - a: @case has an invalid argument (Received: {"operator":"title","value":"x"})"
    `)
    expect(message({ a: { '@template': { '@path': '$.traits.age' } } })).toMatchInlineSnapshot(`
      "Cannot apply the mapping
        - a: @template needs a string (Received: 41)"
    `)
    expect(message({ a: { '@path': { '@path': '$.traits' } } })).toMatchInlineSnapshot(`
      "Cannot apply the mapping
        - a: @path needs a string (Received: {"email":"Ann@Example.com","age":41,"address":{"city":"Pari…)"
    `)
    expect(message({ a: { '@path': { '@path': '$.nope' } } })).toMatchInlineSnapshot(`
      "Cannot apply the mapping
        - a: @path needs a string (Received: undefined)"
    `)
  })

  it('fails only when the failing directive is evaluated', () => {
    const program = compileMapping({
      a: { '@if': { exists: { '@path': '$.nope' }, then: { '@nope': 1 }, else: 'fallback' } },
    })
    expect(runMapping(program, input)).toStrictEqual({ a: 'fallback' })
    expect(() => runMapping(program, { nope: 1 })).toThrow(RelayError)
  })

  it('turns what the engine throws into a RelayError', () => {
    const loop: Record<string, unknown> = {}
    loop.loop = loop
    const program = compileMapping({ a: { '@json': { mode: 'encode', value: { '@path': '$.loop' } } } })
    expect(() => runMapping(program, { loop })).toThrow(/^Cannot apply the mapping: TypeError: /)
  })
})

describe('compileMapping', () => {
  it.each<[string, unknown]>([
    ['an array', [{ '@path': '$.userId' }]],
    ['null', null],
    ['a top-level directive', { '@path': '$.traits' }],
  ])('refuses what is not an object of fields: %s', (_name, fields) => {
    expect(() => compileMapping(fields)).toThrow(MappingError)
  })

  it('names what it refuses', () => {
    expect(() => compileMapping({ '@path': '$.traits' })).toThrowErrorMatchingInlineSnapshot(
      `[MappingError: A mapping must be an object of fields (Received: {"@path":"$.traits"})]`,
    )
  })
})
