// Hand-written mappings and events for the differential test: every directive, its edge cases, and the
// default mappings of the three actions (product.md). Each mapping runs on every event.

/** Inputs that are no event: Segment's transform refuses each ("data must be an object"). */
export const NON_OBJECT_EVENTS: Record<string, unknown> = {
  array: [{ userId: 'u1' }],
  'empty array': [],
  string: 'identify',
  'empty string': '',
  null: null,
  number: 42,
  boolean: true,
  date: new Date(0),
}

export const EVENTS: Record<string, Record<string, unknown>> = {
  identify: {
    type: 'identify',
    userId: 'u1',
    anonymousId: 'anon-1',
    messageId: 'm1',
    timestamp: '2026-11-28T10:00:00.000Z',
    traits: {
      email: 'Ann@Example.com',
      firstName: 'Ann',
      lastName: 'Lee',
      phone: '+1 555 0100',
      language: 'FR',
      plan: 'pro',
      age: 41,
      score: 0,
      vip: false,
      nickname: '',
      middleName: null,
      tags: ['a', 'b', 'a.b'],
      address: { city: 'Paris', zip: '75001', geo: { lat: 48.8, lng: 2.3 }, note: null },
      orders: [
        { id: 'o1', total: 10, items: [{ sku: 'A' }, { sku: 'B' }] },
        { id: 'o2', total: 0, items: [] },
      ],
      json: '{"a":1,"b":{"c":[1,2]}}',
      notJson: '{a:1}',
      braces: 'x {{traits.plan}} y',
      'dotted.key': 'dk',
      $: 'dollar',
    },
    context: { locale: 'fr-FR', traits: { qualtricsMailingListId: 'CG_ctx' } },
  },
  purchase: {
    type: 'track',
    event: 'Transaction Created',
    userId: null,
    anonymousId: 'anon-2',
    email: 'top@example.com',
    messageId: 'm2',
    timestamp: '2026-11-28T10:05:00.000Z',
    properties: {
      total: 42.5,
      currency: 'EUR',
      coupon: null,
      items: [
        { sku: 'a', price: 1, meta: { color: 'red', size: null } },
        { sku: 'b', price: 2, meta: null },
        null,
        'loose',
      ],
      flags: { gift: true, express: false },
      empty: {},
      emptyList: [],
    },
    context: {
      traits: {
        email: 'ctx@example.com',
        language: 'DE',
        qualtricsMailingListId: 'CG_1',
        qualtricsContactId: 'CID_1',
      },
    },
  },
  bare: { type: 'page' },
  odd: {
    type: 'track',
    event: '',
    userId: '',
    traits: { email: null, language: '', list: [[1, 2], [3]], n: 0, f: false, s: ' ', zero: '0', arr: [] },
    properties: {
      0: 'zero',
      1: 'one',
      'a b': 'space',
      nested: { 0: { x: 'deep' } },
      undef: undefined,
      holes: [undefined, 1],
    },
    context: null,
  },
}

const path = (p: string) => ({ '@path': p })
const withElse = (p: string, otherwise: unknown) => ({
  '@if': { exists: path(p), then: path(p), else: otherwise },
})

/** The default mappings of product.md, written as Segment would. */
export const DEFAULT_MAPPINGS: Record<string, Record<string, unknown>> = {
  addContactToXmd: {
    directoryId: 'POOL_1',
    extRef: path('$.userId'),
    email: withElse('$.email', path('$.traits.email')),
    phone: path('$.traits.phone'),
    firstName: path('$.traits.firstName'),
    lastName: path('$.traits.lastName'),
    language: withElse('$.traits.language', 'EN'),
    unsubscribed: false,
  },
  upsertContactTransaction: {
    directoryId: 'POOL_1',
    mailingListId: withElse(
      '$.traits.qualtricsMailingListId',
      path('$.context.traits.qualtricsMailingListId'),
    ),
    contactId: withElse('$.traits.qualtricsContactId', path('$.context.traits.qualtricsContactId')),
    extRef: withElse('$.userId', path('$.anonymousId')),
    email: withElse('$.email', withElse('$.traits.email', path('$.context.traits.email'))),
    language: withElse('$.traits.language', withElse('$.context.traits.language', 'EN')),
    transactionDate: path('$.timestamp'),
    transactionData: path('$.properties'),
  },
  triggerXflowWorkflow: {
    workflowUrl: 'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=1',
    eventPayload: {
      event: path('$.event'),
      type: path('$.type'),
      userId: path('$.userId'),
      properties: path('$.properties'),
      traits: path('$.traits'),
      context: path('$.context'),
    },
  },
}

/** name → mapping; every one of them runs on every event above. */
export const MAPPINGS: Record<string, Record<string, unknown>> = {
  ...DEFAULT_MAPPINGS,

  // literals and plain structure
  'literals of every JSON type': {
    s: 'x',
    n: 1,
    z: 0,
    f: false,
    nul: null,
    arr: [1, 'a', null],
    obj: { a: { b: 1 } },
  },
  'a string that looks like a path stays a string': { a: '$.traits.email' },
  'empty mapping': {},
  'nested objects and arrays of directives': {
    a: { b: path('$.traits.email'), c: [path('$.traits.plan'), path('$.traits.missing'), 1] },
  },
  'an object with _metadata and no directive is plain': { a: { _metadata: { label: 'x' }, b: 1 } },
  'a __proto__ field of the mapping is dropped': JSON.parse('{"__proto__": {"polluted": 1}, "a": 1}'),
  'a constructor field of the mapping is kept': { constructor: path('$.traits.plan'), prototype: 1 },

  // @path
  '@path: top-level and nested keys': {
    a: path('$.userId'),
    b: path('$.traits.address.city'),
    c: path('$.traits.address'),
  },
  '@path: missing keys are dropped': {
    a: path('$.nope'),
    b: path('$.traits.nope.deeper'),
    c: path('$.context.nope'),
  },
  '@path: null stays null, a key under null gives null': {
    a: path('$.traits.middleName'),
    b: path('$.traits.middleName.x'),
    c: path('$.context.x'),
  },
  '@path: a key under 0, false or "" gives that value': {
    a: path('$.traits.score.x'),
    b: path('$.traits.vip.x'),
    c: path('$.traits.nickname.x'),
  },
  '@path: array indexes in both notations': {
    a: path('$.traits.orders[0].id'),
    b: path('$.traits.orders.1.id'),
    c: path('$.traits.orders[1].items[0].sku'),
    d: path('$.traits.tags[5]'),
    e: path('$.properties.items[2].sku'),
  },
  '@path: quoted keys': {
    a: path('$.traits["firstName"]'),
    b: path("$.traits['address']['city']"),
    c: path('$.traits["dotted.key"]'),
  },
  '@path: length of strings and arrays': {
    a: path('$.traits.email.length'),
    b: path('$.traits.tags.length'),
    c: path('$.traits.email[0]'),
  },
  '@path: without $. and the odd forms': {
    a: path('traits.plan'),
    b: path('$.'),
    c: path('$'),
    d: path(''),
    e: path('$.traits.$'),
    f: path('$.traits..plan'),
    g: path('$.traits.plan]'),
    h: path('$.traits[plan]'),
    i: path('traits.$.plan'),
  },
  '@path: the whole event': { all: path('$.') },
  '@path: from a template': {
    a: { '@path': { '@template': '$.traits.{{traits.plan}}' } },
    b: { '@path': { '@template': '$.{{type}}' } },
  },
  '@path: keys that are numbers': {
    a: path('$.properties.0'),
    b: path('$.properties[1]'),
    c: path('$.properties.nested.0.x'),
  },

  // @template
  '@template: text and values': { a: { '@template': 'Hi {{traits.firstName}} {{traits.lastName}}!' } },
  '@template: numbers, booleans, null, missing': {
    a: {
      '@template': '{{traits.age}}|{{traits.score}}|{{traits.vip}}|{{traits.middleName}}|{{traits.nope}}',
    },
  },
  '@template: arrays and objects': {
    a: { '@template': '{{traits.tags}} {{traits.address}} {{traits.orders}}' },
  },
  '@template: triple braces and spaces': {
    a: { '@template': '{{{traits.plan}}} {{ traits.plan }} {{{ traits.age }}}' },
  },
  '@template: $. prefix is not understood': { a: { '@template': '{{$.traits.plan}}' } },
  '@template: a value holding braces is rendered again': { a: { '@template': '{{{traits.braces}}}' } },
  '@template: empty and unmatched braces': {
    a: { '@template': '' },
    b: { '@template': '{{}} {{ }} {{traits.plan' },
    c: { '@template': '}}{{' },
  },
  '@template: array index': { a: { '@template': '{{traits.orders[0].id}}-{{traits.tags.1}}' } },
  '@template: from a path': { a: { '@template': path('$.traits.braces') } },
  '@template: a non-string from a path fails': { a: { '@template': path('$.traits.age') } },
  '@path: a non-string from a path fails': { a: { '@path': path('$.traits.age') } },

  // @if
  '@if exists: then and else': {
    a: { '@if': { exists: path('$.traits.email'), then: 'yes', else: 'no' } },
    b: { '@if': { exists: path('$.traits.nope'), then: 'yes', else: 'no' } },
  },
  '@if exists: null does not exist, "" and 0 do': {
    a: { '@if': { exists: path('$.traits.middleName'), then: 'yes', else: 'no' } },
    b: { '@if': { exists: path('$.traits.nickname'), then: 'yes', else: 'no' } },
    c: { '@if': { exists: path('$.traits.score'), then: 'yes', else: 'no' } },
  },
  '@if blank: "", null, 0, false, [] are blank; " " and "0" are not': {
    a: { '@if': { blank: path('$.traits.nickname'), then: 'filled', else: 'blank' } },
    b: { '@if': { blank: path('$.traits.middleName'), then: 'filled', else: 'blank' } },
    c: { '@if': { blank: path('$.traits.score'), then: 'filled', else: 'blank' } },
    d: { '@if': { blank: path('$.traits.vip'), then: 'filled', else: 'blank' } },
    e: { '@if': { blank: path('$.traits.arr'), then: 'filled', else: 'blank' } },
    f: { '@if': { blank: path('$.traits.s'), then: 'filled', else: 'blank' } },
    g: { '@if': { blank: path('$.traits.zero'), then: 'filled', else: 'blank' } },
    h: { '@if': { blank: path('$.traits.tags'), then: 'filled', else: 'blank' } },
  },
  '@if: missing then or else gives nothing': {
    a: { '@if': { exists: path('$.traits.email') } },
    b: { '@if': { exists: path('$.traits.nope'), then: 1 } },
  },
  '@if: a falsy else (0, "", false, null) gives nothing': {
    a: { '@if': { exists: path('$.nope'), then: 1, else: 0 } },
    b: { '@if': { exists: path('$.nope'), then: 1, else: '' } },
    c: { '@if': { exists: path('$.nope'), then: 1, else: false } },
    d: { '@if': { exists: path('$.nope'), then: 1, else: null } },
  },
  '@if: a falsy then is returned': {
    a: { '@if': { exists: path('$.userId'), then: 0 } },
    b: { '@if': { exists: path('$.userId'), then: null } },
  },
  '@if: literal conditions': {
    a: { '@if': { exists: 'x', then: 1 } },
    b: { '@if': { exists: true, then: 1 } },
    c: { '@if': { blank: ' ', then: 1, else: 2 } },
  },
  '@if: both exists and blank, exists wins': {
    a: { '@if': { exists: path('$.traits.nickname'), blank: path('$.traits.nickname'), then: 1, else: 2 } },
  },
  '@if: a falsy exists with a blank uses exists': {
    a: { '@if': { exists: 0, blank: path('$.nope'), then: 'exists-0', else: 'no' } },
    b: { '@if': { exists: null, blank: path('$.traits.plan'), then: 'yes', else: 'no' } },
  },
  '@if: nested ifs and directives in branches': {
    a: withElse('$.traits.nope', withElse('$.traits.alsoNope', { '@template': 'fallback {{traits.plan}}' })),
    b: {
      '@if': {
        exists: path('$.traits.address'),
        then: { city: path('$.traits.address.city'), zip: path('$.traits.address.zip') },
      },
    },
  },

  // @literal
  '@literal: values are kept': {
    a: { '@literal': 'x' },
    b: { '@literal': { k: [1, null] } },
    c: { '@literal': null },
  },
  '@literal: directives inside are still evaluated (as in Segment)': {
    a: { '@literal': path('$.traits.plan') },
    b: { '@literal': { k: path('$.traits.plan') } },
  },

  // @case
  '@case: lower and upper': {
    a: { '@case': { operator: 'lower', value: path('$.traits.email') } },
    b: { '@case': { operator: 'upper', value: path('$.traits.email') } },
    c: { '@case': { operator: 'upper', value: 'straße' } },
  },
  '@case: non-strings pass through, missing gives nothing': {
    a: { '@case': { operator: 'lower', value: path('$.traits.age') } },
    b: { '@case': { operator: 'lower', value: path('$.nope') } },
    c: { '@case': { operator: 'lower' } },
    d: { '@case': { operator: 'lower', value: '' } },
  },

  // @replace
  '@replace: global by default, first only with global false': {
    a: { '@replace': { pattern: 'a', replacement: 'X', value: 'banana' } },
    b: { '@replace': { pattern: 'a', replacement: 'X', value: 'banana', global: false } },
  },
  '@replace: ignorecase and regex characters are literal': {
    a: { '@replace': { pattern: 'A', replacement: '-', value: 'aAaA', ignorecase: true } },
    b: { '@replace': { pattern: '.', replacement: '_', value: path('$.traits.email') } },
    c: { '@replace': { pattern: '(x)', replacement: '$1', value: 'a(x)b' } },
    d: { '@replace': { pattern: '+1 ', value: path('$.traits.phone') } },
  },
  '@replace: replacement patterns $& and $$ work as in String.replace': {
    a: { '@replace': { pattern: 'n', replacement: '[$&]', value: 'banana' } },
    b: { '@replace': { pattern: 'n', replacement: '$$', value: 'banana' } },
  },
  '@replace: numbers and booleans become strings, others ""': {
    a: { '@replace': { pattern: '1', replacement: '9', value: path('$.traits.age') } },
    b: { '@replace': { pattern: 'f', replacement: 'F', value: path('$.traits.vip') } },
    c: { '@replace': { pattern: 'a', value: path('$.traits.address') } },
    d: { '@replace': { pattern: 'a', value: path('$.nope') } },
  },
  '@replace: a second pattern': {
    a: {
      '@replace': {
        pattern: '@',
        replacement: ' at ',
        pattern2: '.',
        replacement2: ' dot ',
        value: path('$.traits.email'),
      },
    },
    b: { '@replace': { pattern: 'a', pattern2: 'b', value: 'abab' } },
  },
  '@replace: an empty value gives nothing': { a: { '@replace': { pattern: 'a', value: '' } } },

  // @arrayPath
  '@arrayPath: maps each item': {
    a: {
      '@arrayPath': [
        '$.traits.orders',
        { orderId: path('$.id'), amount: path('$.total'), first: path('$.items[0].sku') },
      ],
    },
  },
  '@arrayPath: without an item mapping returns the array': {
    a: { '@arrayPath': ['$.traits.orders'] },
    b: { '@arrayPath': ['$.traits.orders', {}] },
  },
  '@arrayPath: an object is mapped as one item': {
    a: { '@arrayPath': ['$.traits.address', { c: path('$.city') }] },
  },
  '@arrayPath: a string or missing root is returned as is': {
    a: { '@arrayPath': ['$.traits.plan', { c: path('$.city') }] },
    b: { '@arrayPath': ['$.nope', { c: path('$.city') }] },
  },
  '@arrayPath: null, strings and numbers as items': {
    a: { '@arrayPath': ['$.properties.items', { s: path('$.sku'), l: path('$.length'), all: path('$.') }] },
  },
  '@arrayPath: a directive as path and as item mapping': {
    a: { '@arrayPath': [path('$.traits.orders'), path('$.id')] },
    b: { '@arrayPath': ['$.traits.tags', { '@template': '#{{length}}' }] },
  },
  '@arrayPath: nested': {
    a: {
      '@arrayPath': [
        '$.traits.orders',
        { id: path('$.id'), skus: { '@arrayPath': ['$.items', { sku: path('$.sku') }] } },
      ],
    },
  },
  '@arrayPath: undefined items read as {} in templates': {
    a: { '@arrayPath': ['$.properties.holes', { t: { '@template': '[{{ }}]' }, p: path('$.') }] },
  },
  '@arrayPath: templates inside items': {
    a: { '@arrayPath': ['$.properties.items', { t: { '@template': '{{sku}}:{{price}}' } }] },
  },

  // @json
  '@json: encode': {
    a: { '@json': { mode: 'encode', value: path('$.traits.address') } },
    b: { '@json': { mode: 'encode', value: path('$.nope') } },
    c: { '@json': { mode: 'encode', value: 'x' } },
    d: { '@json': { mode: 'encode', value: { k: path('$.nope'), j: path('$.traits.plan') } } },
  },
  '@json: decode': {
    a: { '@json': { mode: 'decode', value: path('$.traits.json') } },
    b: { '@json': { mode: 'decode', value: path('$.traits.notJson') } },
    c: { '@json': { mode: 'decode', value: path('$.traits.address') } },
    d: { '@json': { mode: 'decode', value: path('$.traits.age') } },
    e: { '@json': { mode: 'decode', value: path('$.traits.list.1') } },
    f: { '@json': { mode: 'decode', value: path('$.traits.tags') } },
  },

  // @flatten
  '@flatten: objects and arrays': {
    a: { '@flatten': { separator: '.', value: path('$.traits.address') } },
    b: { '@flatten': { separator: '_', value: path('$.traits.orders') } },
    c: { '@flatten': { separator: '_', value: path('$.traits.orders'), omitArrays: true } },
  },
  '@flatten: a scalar or missing value': {
    a: { '@flatten': { separator: '.', value: path('$.traits.plan') } },
    b: { '@flatten': { separator: '.', value: path('$.nope') } },
    c: { '@flatten': { separator: '.', value: path('$.properties') } },
  },
  '@flatten: a literal object with directives': {
    a: { '@flatten': { separator: '-', value: { x: { y: path('$.traits.plan'), z: [1, { w: 2 }] } } } },
  },

  // @merge
  '@merge: right wins by default direction right': {
    a: {
      '@merge': {
        direction: 'right',
        objects: [
          { a: 1, b: 1 },
          { b: 2, c: path('$.traits.plan') },
        ],
      },
    },
  },
  '@merge: left wins with direction left': {
    a: {
      '@merge': {
        direction: 'left',
        objects: [
          { a: 1, b: 1 },
          { b: 2, c: 3 },
        ],
      },
    },
  },
  '@merge: event objects and undefined values': {
    a: { '@merge': { direction: 'right', objects: [path('$.traits.address'), { city: path('$.nope') }] } },
    b: { '@merge': { direction: 'left', objects: [path('$.traits.address'), path('$.context.traits')] } },
  },
  '@merge: strings, arrays and null from paths': {
    a: {
      '@merge': {
        direction: 'right',
        objects: [path('$.traits.plan'), path('$.traits.tags'), path('$.traits.middleName')],
      },
    },
  },

  // @excludeWhenNull
  '@excludeWhenNull: null is dropped, other values kept': {
    a: { '@excludeWhenNull': path('$.traits.middleName') },
    b: { '@excludeWhenNull': path('$.traits.plan') },
    c: { '@excludeWhenNull': path('$.nope') },
  },
  '@excludeWhenNull: null keys of objects are dropped, arrays untouched': {
    a: { '@excludeWhenNull': path('$.traits.address') },
    b: { '@excludeWhenNull': { x: null, y: { z: null, w: 1 }, v: [null] } },
    c: { '@excludeWhenNull': path('$.properties.items') },
  },

  // combinations
  'directives inside directives': {
    a: { '@case': { operator: 'upper', value: { '@template': '{{traits.firstName}}-{{traits.plan}}' } } },
    b: {
      '@json': {
        mode: 'encode',
        value: { '@merge': { direction: 'right', objects: [{ a: 1 }, { b: path('$.traits.plan') }] } },
      },
    },
    c: {
      '@flatten': { separator: '.', value: { '@json': { mode: 'decode', value: path('$.traits.json') } } },
    },
    d: {
      '@replace': {
        pattern: 'A',
        replacement: 'a',
        value: { '@case': { operator: 'upper', value: path('$.traits.email') } },
      },
    },
  },
  'an array of mixed directives keeps undefined slots': {
    a: [path('$.nope'), { '@if': { exists: path('$.nope'), then: 1 } }, path('$.traits.plan')],
  },
  'a directive with _metadata': { a: { '@path': '$.traits.plan', _metadata: { label: 'Plan' } } },
  'a mixed object inside an array is plain data in Segment': { a: [{ '@path': '$.traits.plan', other: 1 }] },
  'unchecked option types inside arrays act as in Segment': {
    a: [
      { '@replace': { pattern: 'a', value: 'b', ignorecase: 'yes' } },
      { '@replace': { pattern: 5, value: 'a' } },
      { '@replace': { pattern: 'a', replacement: 5, value: 'a' } },
      { '@replace': { pattern: 'a', pattern2: 5, value: 'a' } },
      { '@case': { operator: 'lower', value: 5 } },
      { '@json': { mode: 'ENCODE', value: 'x' } },
      { '@merge': { direction: 'LEFT', objects: [{ a: 1 }, { a: 2 }] } },
    ],
  },
  'checkMapping is stricter inside arrays': { a: [{ '@path': 5 }] },
  'checkMapping is stricter inside @literal': { a: { '@literal': { b: { '@if': { then: 1 } } } } },
  '@if without a condition fails on evaluation in Segment': { a: { '@if': { then: 1 } } },
  '@case with another operator fails on strings in Segment': {
    a: { '@case': { operator: 'title', value: path('$.traits.plan') } },
  },
  '@json with mode ENCODE gives nothing in Segment': { a: { '@json': { mode: 'ENCODE', value: 'x' } } },
  '@merge with direction LEFT merges to the right in Segment': {
    a: { '@merge': { direction: 'LEFT', objects: [{ a: 1 }, { a: 2 }] } },
  },
  '@replace with a long pattern2 fails on evaluation in Segment': {
    a: { '@replace': { pattern: 'a', pattern2: 'more-than-ten', value: 'a' } },
  },

  // refused by both
  'refused: @path not a string': { a: { '@path': 5 } },
  'refused: unknown directive': { a: { '@nope': 1 } },
  'refused: two directives': { a: { '@path': '$.a', '@template': 'x' } },
  'refused: a directive with another key': { a: { '@path': '$.a', b: 1 } },
  'refused: @replace pattern too long': { a: { '@replace': { pattern: 'abcdefghijk', value: 'x' } } },
  'refused: @replace without value': { a: { '@replace': { pattern: 'a' } } },
  'refused: @json bad mode': { a: { '@json': { mode: 'pretty', value: 'x' } } },
  'refused: @merge objects not an array': { a: { '@merge': { direction: 'right', objects: { a: 1 } } } },
  'refused: @arrayPath not an array': { a: { '@arrayPath': '$.traits.orders' } },
  'refused: @if not an object': { a: { '@if': 'x' } },
  'refused: nested deep in an object': { a: { b: { c: { '@template': 1 } } } },
  'refused: inside an @if branch object': { a: { '@if': { exists: 1, then: { b: { '@path': 5 } } } } },
}
