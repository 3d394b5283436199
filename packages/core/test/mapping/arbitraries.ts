// fast-check generators for the differential test: events, and mappings drawn from Segment's directive
// grammar (mostly well-formed, some deliberately broken). Keys come from small pools so that paths
// often hit data. Names inherited from Object.prototype are left out on purpose: reading them is a
// documented deviation (own properties only), tested case by case in the unit tests.
import fc from 'fast-check'

const DATA_KEYS = ['a', 'b', 'email', 'name', 'x', '0', '1', 'list', 'n', 's', 'length'] as const
const TOP_KEYS = [
  'traits',
  'properties',
  'context',
  'userId',
  'anonymousId',
  'event',
  'type',
  'missing',
] as const
const FIELD_KEYS = ['a', 'b', 'email', 'x', 'y', '_metadata', '0'] as const

const word = fc.constantFrom(
  '',
  ' ',
  'Ann',
  'ann@EXAMPLE.com',
  'a.b',
  'A-b_c',
  'Hello World',
  '{{a}}',
  '{"a":1,"b":[1,null]}',
  '[1,2]',
  'null',
  '12',
  'true',
  'aAbBaA',
  'x$1y$&',
  '10%',
  'ß İ ǅ',
)

const leaf = fc.oneof(
  { weight: 3, arbitrary: word },
  fc.string({ maxLength: 6 }),
  fc.integer({ min: -3, max: 120 }),
  fc.constantFrom(0, -0, 1.5, -1, 1e21),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
)

/** A JSON-like tree with the occasional undefined, as analytics.js events can carry. */
export const dataValue: fc.Arbitrary<unknown> = fc.letrec<{
  value: unknown
  array: unknown[]
  object: object
}>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 3 }),
  object: fc.dictionary(fc.constantFrom(...DATA_KEYS), tie('value'), { maxKeys: 4, noNullPrototype: true }),
})).value

const dataObject = fc.dictionary(fc.constantFrom(...DATA_KEYS), dataValue, {
  maxKeys: 5,
  noNullPrototype: true,
})

/** Values that are no event (no undefined: Segment's transform defaults that to {}, see deviations). */
export const nonObjectEvent: fc.Arbitrary<unknown> = fc.oneof(
  fc.array(fc.oneof(fc.string(), fc.integer(), fc.dictionary(fc.string(), fc.string())), { maxLength: 3 }),
  fc.string(),
  fc.constant(null),
  fc.integer(),
  fc.boolean(),
  fc.date({ noInvalidDate: true }),
)

export const event: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    type: fc.constantFrom('identify', 'track', 'page'),
    event: fc.constantFrom('Signed Up', 'Transaction Created', ''),
    userId: fc.oneof(fc.constantFrom('u1', 'U-2', ''), fc.constant(null)),
    anonymousId: fc.constantFrom('anon-1'),
    traits: dataObject,
    properties: dataObject,
    context: fc.record(
      { traits: dataObject, locale: fc.constantFrom('en-US', 'fr') },
      { requiredKeys: [], noNullPrototype: true },
    ),
  },
  { requiredKeys: ['type'], noNullPrototype: true },
)

/** Paths in the forms Segment accepts: `$.a.b`, `$.a[0]`, `$.a["b"]`, `a.b`, `$.`, and odd ones. */
const pathText = fc
  .tuple(
    fc.constantFrom(...TOP_KEYS),
    fc.array(fc.constantFrom(...DATA_KEYS), { maxLength: 3 }),
    fc.constantFrom('dots', 'brackets', 'quotes', 'bare', 'odd'),
  )
  .map(([top, rest, style]) => {
    const keys = [top, ...rest]
    switch (style) {
      case 'dots':
        return `$.${keys.join('.')}`
      case 'brackets':
        return `$.${top}${rest.map((key) => (/^\d+$/.test(key) ? `[${key}]` : `.${key}`)).join('')}`
      case 'quotes':
        return `$.${top}${rest.map((key) => `["${key}"]`).join('')}`
      case 'bare':
        return keys.join('.')
      default:
        return `$.${keys.join('..')}]`
    }
  })

const templatePath = fc.oneof(
  pathText.map((path) => path.replace(/^\$\./, '')),
  pathText,
  fc.constantFrom('', ' '),
)

const templateText = fc
  .array(
    fc.oneof(
      fc.constantFrom('Hi ', '-', ' ', '}', '{', '{{', 'x}}'),
      templatePath.map((path) => `{{${path}}}`),
      templatePath.map((path) => `{{ ${path} }}`),
      templatePath.map((path) => `{{{${path}}}}`),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((parts) => parts.join(''))

const literal = fc.oneof(word, fc.integer({ min: -2, max: 9 }), fc.boolean(), fc.constant(null))
const shortText = (min: number) =>
  fc.oneof(
    fc.constantFrom('a', '.', 'a.b', '$', '$&', '$1', '$$', ' ', '(', '[x]', '\\', '*', '-', 'A', 'b'),
    fc.string({ minLength: min, maxLength: 10 }),
  )

/** Deliberately broken directives, mostly ones Segment's validate refuses. */
const broken = fc.constantFrom<unknown>(
  { '@path': 5 },
  { '@path': null },
  { '@path': ['$.a'] },
  { '@template': { a: 1 } },
  { '@if': {} },
  { '@if': 'x' },
  { '@if': { then: 1 } },
  { '@if': { exists: null, then: 1 } },
  { '@foo': 1 },
  { '@path': '$.traits.a', extra: 1 },
  { '@path': '$.traits.a', '@template': 'x' },
  { '@case': { operator: 'title', value: 'x' } },
  { '@case': { value: 'x' } },
  { '@case': { operator: 'lower', value: 5 } },
  { '@replace': { pattern: 'a-very-long-pattern', value: 'x' } },
  { '@replace': { pattern: 'a', replacement: null, value: 'a' } },
  { '@replace': { pattern: 'a', value: 'a', global: 'yes' } },
  { '@replace': { value: 'a' } },
  { '@json': { mode: 'ENCODE', value: 'x' } },
  { '@json': { mode: 'encode' } },
  { '@json': { mode: 'decode', value: '' } },
  { '@merge': { direction: 'LEFT', objects: [{ a: 1 }, { a: 2 }] } },
  { '@merge': { objects: [{ a: 1 }] } },
  { '@merge': { direction: 'right', objects: ['a'] } },
  { '@merge': { direction: 'right', objects: { a: 1 } } },
  { '@flatten': { value: { a: { b: 1 } } } },
  { '@flatten': { separator: '', value: { a: 1 } } },
  { '@arrayPath': '$.traits.list' },
  { '@arrayPath': [5, {}] },
  { '@literal': { a: { '@path': 5 } } },
  { '@excludeWhenNull': [{ '@foo': 1 }] },
)

type Tie = (key: string) => fc.Arbitrary<unknown>

const optionsOf = (record: Record<string, fc.Arbitrary<unknown>>, required: string[]) =>
  fc.record(record, { requiredKeys: required, noNullPrototype: true }) as fc.Arbitrary<
    Record<string, unknown>
  >

export const mapping: fc.Arbitrary<Record<string, unknown>> = fc.letrec((tie: Tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 3, arbitrary: literal },
    { weight: 4, arbitrary: tie('path') },
    { weight: 2, arbitrary: tie('template') },
    { weight: 2, arbitrary: tie('if') },
    tie('case'),
    tie('replace'),
    tie('arrayPath'),
    tie('json'),
    tie('flatten'),
    tie('merge'),
    tie('literal'),
    tie('excludeWhenNull'),
    tie('object'),
    tie('array'),
    { weight: 1, arbitrary: broken },
  ),
  stringOrDirective: fc.oneof(
    { weight: 2, arbitrary: tie('path') },
    tie('template'),
    { weight: 2, arbitrary: pathText },
    word,
    tie('case'),
    tie('if'),
  ),
  path: fc.oneof(
    { weight: 5, arbitrary: pathText.map((path) => ({ '@path': path })) },
    fc.constantFrom({ '@path': '$.' }, { '@path': '$' }, { '@path': '' }),
    tie('template').map((template) => ({ '@path': template })),
    // A path read from the event: a string works, anything else fails on evaluation.
    pathText.map((path) => ({ '@path': { '@path': path } })),
  ),
  template: fc.oneof(
    { weight: 4, arbitrary: templateText.map((template) => ({ '@template': template })) },
    pathText.map((path) => ({ '@template': { '@path': path } })),
  ),
  if: fc
    .tuple(
      fc.constantFrom('exists', 'blank', 'both'),
      tie('value'),
      fc.option(tie('value'), { nil: undefined }),
      fc.option(tie('value'), { nil: undefined }),
    )
    .map(([kind, condition, then, otherwise]) => {
      const options: Record<string, unknown> =
        kind === 'both' ? { exists: condition, blank: condition } : { [kind]: condition }
      if (then !== undefined) options.then = then
      if (otherwise !== undefined) options.else = otherwise
      return { '@if': options }
    }),
  case: optionsOf({ operator: fc.constantFrom('lower', 'upper'), value: tie('stringOrDirective') }, [
    'operator',
  ]).map((options) => ({ '@case': options })),
  replace: optionsOf(
    {
      pattern: shortText(1),
      replacement: shortText(0),
      value: tie('stringOrDirective'),
      ignorecase: fc.boolean(),
      global: fc.boolean(),
      pattern2: shortText(1),
      replacement2: shortText(0),
    },
    ['pattern', 'value'],
  ).map((options) => ({ '@replace': options })),
  arrayPath: fc
    .tuple(fc.oneof(pathText, tie('path')), fc.option(tie('itemShape'), { nil: undefined }))
    .map(([path, shape]) => ({ '@arrayPath': shape === undefined ? [path] : [path, shape] })),
  itemShape: fc.oneof(
    fc.dictionary(fc.constantFrom(...FIELD_KEYS), tie('value'), { maxKeys: 3, noNullPrototype: true }),
    fc.constant({}),
    tie('path'),
  ),
  json: optionsOf({ mode: fc.constantFrom('encode', 'decode'), value: tie('value') }, ['mode', 'value']).map(
    (options) => ({ '@json': options }),
  ),
  flatten: optionsOf(
    { separator: fc.constantFrom('.', '_', '-', '__'), value: tie('value'), omitArrays: fc.boolean() },
    ['separator', 'value'],
  ).map((options) => ({ '@flatten': options })),
  merge: optionsOf(
    {
      direction: fc.constantFrom('left', 'right'),
      objects: fc.array(fc.oneof(tie('path'), tie('object'), tie('json'), tie('excludeWhenNull')), {
        maxLength: 3,
      }),
    },
    ['direction', 'objects'],
  ).map((options) => ({ '@merge': options })),
  literal: tie('value').map((value) => ({ '@literal': value })),
  excludeWhenNull: tie('value').map((value) => ({ '@excludeWhenNull': value })),
  object: fc.dictionary(fc.constantFrom(...FIELD_KEYS), tie('value'), { maxKeys: 3, noNullPrototype: true }),
  array: fc.array(tie('value'), { maxLength: 3 }),
  fields: fc.dictionary(fc.constantFrom(...FIELD_KEYS), tie('value'), {
    minKeys: 1,
    maxKeys: 4,
    noNullPrototype: true,
  }),
})).fields as fc.Arbitrary<Record<string, unknown>>
