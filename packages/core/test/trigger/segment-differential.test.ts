// Our parser + evaluator against Segment's `parseFql` + `validate` (@segment/destination-subscriptions)
// on the same texts and events. Rule: when Segment rejects a text we throw; when both accept, every event
// gets the same answer; when only Segment accepts, our error must be one of the documented DEVIATIONS.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { formatTrigger, matchesTrigger, parseTrigger } from '../../src/trigger/index'
import {
  characterText,
  compareWithSegment,
  eventArbitrary,
  mutatedText,
  SAMPLE_EVENTS,
  segmentResults,
  soupText,
  validTriggerText,
  type Deviation,
  type Outcome,
} from './segment-oracle'

const SEED = 20_261_128

/** Texts both parsers accept: every operator, field kind, form and spacing; same answer on every event. */
const AGREED: string[] = [
  // the three actions' default triggers, and Segment's comma form of the upsert default
  'type = "identify"',
  'type = "track" and event = "Transaction Created"',
  'type = "track", event = "Transaction Created"',
  // = and != on every field kind, with every kind of literal
  'type = "track"',
  'type != "track"',
  'event = "Order Completed"',
  'event != "Order Completed"',
  'name = "Home"',
  'name != "Home"',
  'userId = "u1"',
  'userId != "u1"',
  'properties.plan = "pro"',
  'properties.plan != "pro"',
  'traits.plan = "pro"',
  'context.locale = "en-US"',
  'context.page.path = "/checkout"',
  'event = 5',
  'event = null',
  'event != null',
  'event = true',
  'type = false',
  'name = 7',
  'name = null',
  'name != null',
  'name = true',
  'userId = null',
  'userId != null',
  'userId = true',
  'userId = false',
  'userId != true',
  'userId = 5',
  'properties.total = 10',
  'properties.total != 10',
  'properties.total = "10"',
  'properties.total != "10"',
  'properties.flag = true',
  'properties.flag = false',
  'properties.flag != true',
  'properties.flag != false',
  'properties.flag = "true"',
  'properties.nul = null',
  'properties.nul != null',
  'properties.missing = null',
  'properties.missing != null',
  'properties.total = -1',
  'properties.total = 2.5',
  'properties.x = -.5',
  'properties.total = +10',
  'properties.total = 010',
  'properties.zero = -0',
  'properties.total = 1.0',
  'properties.total = 1000000000000000000000',
  `properties.total < ${'9'.repeat(400)}`,
  `properties.total = ${'9'.repeat(400)}`,
  // < <= > >= on numbers, numeric strings, booleans, null and text
  'properties.total > 5',
  'properties.total >= 10',
  'properties.total < 10',
  'properties.total <= 10',
  'properties.total > "5"',
  'properties.total < "abc"',
  'properties.total < null',
  'properties.total > null',
  'properties.total < true',
  'properties.total >= false',
  'properties.s > 1',
  'traits.age >= 30',
  'traits.age < 10',
  'traits.score > 5',
  'event > 1',
  'event < 10',
  'name > 1',
  'userId < 5',
  'type >= 0',
  // word operators, infix
  'event contains "Order"',
  'event not_contains "Order"',
  'event starts_with "Order"',
  'event not_starts_with "Order"',
  'event ends_with "Created"',
  'event not_ends_with "Created"',
  'event contains ""',
  'event contains 5',
  'event contains null',
  'properties.plan contains "r"',
  'properties.total contains "1"',
  'properties.total contains 1',
  'properties.flag contains true',
  'properties.plan starts_with "p"',
  'traits.email ends_with "@example.com"',
  'context.page.path starts_with "/check"',
  'name not_contains "o"',
  'userId starts_with "u"',
  'type ends_with "ck"',
  'properties.total number_equals 10',
  'properties.total number_equals "10"',
  'properties.total number_not_equals 10',
  'event number_equals 5',
  'event number_not_equals 5',
  'properties.x number_not_equals -0.5',
  'properties.total number_equals true',
  'properties.zero number_not_equals false',
  'properties.total number_equals null',
  'traits.age number_equals "30"',
  // unary word operators
  'properties.plan exists',
  'properties.plan not_exists',
  'properties.flag is_true',
  'properties.flag is_false',
  'event exists',
  'event not_exists',
  'type is_true',
  'name is_false',
  'userId exists',
  'userId is_true',
  'traits.vip is_false',
  'properties.plan exists and event = "Order Completed"',
  'properties.plan exists, event = "Order Completed"',
  'event = "Order Completed" or properties.plan exists',
  'event = "a" or properties.plan exists or event exists',
  '(properties.plan exists) or event = "Order"',
  '(event exists) or (type not_exists)',
  'type = "track" and (event = "Order" or properties.flag is_true)',
  // Segment's function forms
  'contains(event, "Order")',
  '!contains(event, "Order")',
  'contains(properties.plan, "r")',
  '!contains(properties.plan, "r")',
  'contains(traits.email, "@")',
  'contains(context.locale, "US")',
  'contains(name, "om")',
  'contains(userId, "u")',
  'contains(event, 5)',
  'contains(properties.total, 1)',
  'contains(properties.flag, true)',
  'contains(event, null)',
  'match(event, "Order*")',
  'match(event, "*Created")',
  '!match(event, "Order*")',
  '!match(event, "*Created")',
  'match(event, "*")',
  'match(properties.plan, "p*")',
  'match(traits.email, "*.com")',
  'contains( event , "Order" )',
  'contains (event,"Order")',
  'contains(properties . a . b, "x")',
  'contains(event, "Order") and type = "track"',
  'type = "track" and (event = "x" or contains(event, "Order"))',
  '(contains(event, "Order"))',
  '(contains(event, "Order")) or type = "page"',
  // connectives, grouping, and what Segment does with a single-condition group
  'type = "track" and event = "Order Completed" and userId = "u1"',
  'event = "Order" or event = "Order Completed" or event = "Signed Up"',
  'type = "track" and (event = "Order" or event = "Order Completed")',
  '(event = "Order" or event = "Order Completed") and type = "track"',
  '(type = "track" and event = "Order") or (type = "page" and name = "Home")',
  '(type = "identify") and traits.plan = "free"',
  '(type = "track")',
  '(type = "track", event = "Order Completed")',
  '(type = "track" or type = "page"), userId != null',
  'type = "page" or (properties.total > 5 and properties.total < 50)',
  // nested paths, escapes, odd names
  'properties.a.b = "x"',
  'properties.a.b.c = 5',
  'properties.a.b exists',
  'properties.a.b = 0',
  'properties.a.b is_false',
  'properties.a.b = ""',
  'properties.list.\\0 = 1',
  'properties.list.\\1 = "a"',
  'properties.list.length = 2',
  'properties.s.length > 2',
  'properties.first\\ name = "Ann"',
  'properties.\\0 = "zero"',
  'properties.\\and = 1',
  'properties.\\null exists',
  'properties.and= 1',
  'properties.or!= 1',
  'properties.null=null',
  'properties.true exists',
  'properties.x-y = 1',
  'properties._a = 1',
  'properties.a\\.b = "x"',
  'properties\\.a.b = "x"',
  'properties.a\\[0\\] exists',
  'propert\\ies.plan = "pro"',
  '\\event = "Order"',
  'traits.plan = "pro" and context.traits.plan = "pro"',
  'properties.missing.deep = null',
  'properties.missing.deep exists',
  // whitespace variants and the spacing Segment's lexer allows
  'type="track"',
  'type ="track"',
  'type= "track"',
  'type  =  "track"',
  '\ttype = "track"\n',
  'type = "track"\nand\nevent = "Order"',
  'type = "track"\tand\tevent = "Order"',
  'type = "track",event = "Order"',
  'type = "track" ,event = "Order"',
  'properties.total >5',
  'properties.total!= 5',
  'properties.total != 5',
  '(type="track")and (event="Order")',
  '(type = "track")or (event = "Order")',
  'properties .plan = "pro"',
  'properties. plan = "pro"',
  'contains(event,"Order")and type = "track"',
  'properties.total = 5and type = "track"',
  'userId=null',
  'properties.flag=true',
  '!contains(event,"x"),type="track"',
  'type = "track" and\n\n\tevent = "Order"',
  ' ( type = "track" ) ',
  'contains(event,"Order"),match(event,"*ed")',
  'properties.total <10',
  'properties.total >-1',
  'properties.total=10',
  'properties.total =-1',
  'event=null',
  // string content is taken as is: no escapes
  'event = "Order\\"',
  'event = "a\\nb"',
  'event = "multi\nline"',
  'event = "with (parens) and, commas"',
  'event = " or "',
  'event = ""',
  'properties.empty = ""',
  'name = ""',
  // more combinations over the sample events
  'type = "track" and properties.total > 5 and properties.total <= 100',
  'type = "identify" and (traits.plan = "free" or traits.vip is_true)',
  'type = "page" or type = "screen"',
  '(type = "page" or type = "screen") and name exists',
  'event starts_with "Order" and properties.plan = "pro"',
  'event ends_with "Up" or event ends_with "ed"',
  'userId exists and userId != ""',
  'userId = "" or userId not_exists',
  'properties.a exists and properties.a.b not_exists',
  'context.traits.plan = "pro", traits.plan != "pro"',
  'properties.plan = "Pro"',
  'properties.plan contains "pro"',
  'properties.x < 0',
  'properties.x = -0.5',
  'properties.s = 5',
  'properties.s = "5"',
  // literals Segment reads from identifiers, escaped or not
  'properties.flag = tr\\ue',
  'userId = \\null',
  'properties.nul = \\null',
]

/** Texts Segment itself rejects (parseFql returns an error or validate throws): we must throw too. */
const BOTH_REJECT: string[] = [
  '',
  '   ',
  'a',
  'foo = "bar"',
  'event',
  'properties.total',
  'event = "unterminated',
  'event = "a" and (type = "b"',
  '((type = "track"))',
  'type = "track" and ((event = "a"))',
  '(type = "track" or (event = "a"))',
  '()',
  '() and type = "track"',
  'event != "a"x',
  'properties.total !=5',
  'event = "a"\r',
  'event = 1.2.3',
  'event = 5.',
  'event\\',
  'event = € ',
  'contains(type, "t")',
  'contains(event',
  'event = "a" !',
  'properties.\\. exists',
  'properties.\\[\\] = 1',
  'properties.total<5',
  'properties.total>= 5',
  'properties.total<= 5',
  '(event = "B" or (contains(event, "A")))',
  '(event = "B" and (event = "A"))',
  'properties.total>5',
  'and',
  'x = "a"',
  '"x"',
  '5',
]

/** Texts only Segment accepts, each with the reason we refuse it (docs/triggers.md "Deviations"). */
const DEVIATES: [string, Deviation][] = [
  ['type = "track" and event = "a" or event = "b"', 'mixedConnectives'],
  ['event = "a" or event = "b" and type = "track"', 'mixedConnectives'],
  ['type = "track", event = "a" or event = "b"', 'mixedConnectives'],
  ['properties.plan exists or event = "a"', 'swallowedOr'],
  ['event exists or type exists', 'swallowedOr'],
  ['(contains(event, "A") or contains(event, "B")) and type = "track"', 'callInsideGroup'],
  ['(contains(event, "A") or event = "B")', 'callInsideGroup'],
  ['(type = "track" and contains(event, "A")', 'callInsideGroup'],
  ['(contains(event, "A") or (event = "B"))', 'callInsideGroup'],
  ['event = "a" foo', 'strayTokens'],
  ['event = "a" type = "track"', 'strayTokens'],
  ['event = "a")', 'strayTokens'],
  ['event = "a" or', 'strayTokens'],
  ['event = "a" and and type = "track"', 'strayTokens'],
  [', event = "a"', 'strayTokens'],
  ['event = "a" AND type = "track"', 'strayTokens'],
  ['event = "a" OR type = "track"', 'strayTokens'],
  ['(event = "a")or(type = "track")', 'strayTokens'],
  ['event = "a" ]', 'strayTokens'],
  ['!(event = "a")', 'badCall'],
  ['event = track', 'notAValue'],
  ['event = an', 'droppedAtEnd'],
  ['event = "a" and n"', 'droppedAtEnd'],
  ['event =', 'notAValue'],
  ['event = true.x', 'strayTokens'],
  ['properties.a..b exists', 'badField'],
  ['type = "track" or and', 'strayTokens'],
  ['(type = "track" )and( event = "Order")', 'strayTokens'],
  ['properties.total > 0 and properties.total < 1e', 'strayTokens'],
  ['properties.total = 1e21', 'strayTokens'],
  ['event="Order Completed"or type="page"', 'quoting'],
  ['properties.total is_true or properties.total is_false', 'swallowedOr'],
  ['not_contains(event, "x")', 'badField'],
  ['traits = "abc"', 'badField'],
  ['event!contains(event, "a")', 'badOperator'],
  ['event = (', 'notAValue'],
  ['Event = "a" and type = "track"', 'badField'],
  ['type.x = "track"', 'badField'],
  ['properties = 1', 'badField'],
  ['properties.0 = 1', 'badField'],
  ['properties.and = 1', 'badField'],
  ['event == "a"', 'badOperator'],
  ['event is "a"', 'badOperator'],
  ['event match "a*"', 'badOperator'],
  ['properties.total <=5', 'badOperator'],
  ['properties.total >=5', 'badOperator'],
  ["event = 'a'", 'quoting'],
  ['event = "a"and type = "track"', 'quoting'],
  ['event = -', 'badNumber'],
  ['event = 5.x', 'badNumber'],
  ['contains(type, "t") and event = "a"', 'badCall'],
  ['match(event, "abc")', 'badCall'],
  ['match(event, "*a*")', 'badCall'],
  ['match(event, 5)', 'badCall'],
  ['contains(event "a")', 'badCall'],
  [`event = "${'x'.repeat(10_001)}"`, 'tooLong'],
]

function expectOutcome(text: string, expected: Outcome['kind'], deviation?: Deviation) {
  const outcome = compareWithSegment(text, SAMPLE_EVENTS)
  if (outcome.kind === 'mismatch') expect.fail(`${JSON.stringify(text)}: ${outcome.detail}`)
  expect(outcome.kind).toBe(expected)
  if (deviation) expect(outcome).toEqual({ kind: 'deviation', deviation })
}

describe('hand-written triggers against Segment', () => {
  it.each(AGREED)('agrees with Segment on every sample event: %j', (text) =>
    expectOutcome(text, 'both-accept'),
  )
  it.each(BOTH_REJECT)('rejects what Segment rejects: %j', (text) => expectOutcome(text, 'both-reject'))
  it.each(DEVIATES)('refuses %j, which Segment misreads (%s)', (text, deviation) =>
    expectOutcome(text, 'deviation', deviation),
  )

  it('has the hand-written cases the differential test promises', () => {
    expect(AGREED.length + BOTH_REJECT.length + DEVIATES.length).toBeGreaterThanOrEqual(300)
    expect(SAMPLE_EVENTS.length).toBeGreaterThanOrEqual(12)
  })

  it('sees matches and non-matches among the agreed cases, so agreement is not trivial', () => {
    const answers = AGREED.flatMap((text) => {
      const results = segmentResults(text, SAMPLE_EVENTS)
      return results === 'error' ? [] : results
    })
    expect(answers.filter(Boolean).length).toBeGreaterThan(300)
    expect(answers.filter((a) => !a).length).toBeGreaterThan(300)
  })
})

describe('generated triggers against Segment (fast-check, fixed seed)', () => {
  it('accepts every text of the documented language, like Segment, and matches the same events', () => {
    let matches = 0
    fc.assert(
      fc.property(fc.gen(), fc.array(eventArbitrary, { minLength: 4, maxLength: 8 }), (g, events) => {
        const text = validTriggerText(g)
        const all = [...SAMPLE_EVENTS, ...events]
        expect(compareWithSegment(text, all), text).toEqual({ kind: 'both-accept' })
        // The formatted node reads back, in both parsers, as a trigger with the same answers.
        const node = parseTrigger(text)
        const formatted = formatTrigger(node)
        expect(compareWithSegment(formatted, all), formatted).toEqual({ kind: 'both-accept' })
        const again = parseTrigger(formatted)
        for (const event of all) expect(matchesTrigger(again, event)).toBe(matchesTrigger(node, event))
        matches += all.filter((event) => matchesTrigger(node, event)).length
      }),
      { seed: SEED, numRuns: 600 },
    )
    expect(matches).toBeGreaterThan(300)
  })

  it.each([
    ['token soup', soupText],
    ['one-character mutations of valid texts', mutatedText],
    ['character soup', characterText],
  ] as const)('never accepts what Segment rejects, and agrees whenever both accept: %s', (_, generate) => {
    const seen = new Map<string, number>()
    fc.assert(
      fc.property(fc.gen(), fc.array(eventArbitrary, { minLength: 2, maxLength: 4 }), (g, events) => {
        const text = generate(g)
        const outcome = compareWithSegment(text, [...SAMPLE_EVENTS, ...events])
        if (outcome.kind === 'mismatch') expect.fail(`${JSON.stringify(text)}: ${outcome.detail}`)
        const key = outcome.kind === 'deviation' ? outcome.deviation : outcome.kind
        seen.set(key, (seen.get(key) ?? 0) + 1)
      }),
      { seed: SEED, numRuns: 800 },
    )
    expect(seen.get('both-reject')).toBeGreaterThan(50)
    expect(seen.size).toBeGreaterThan(5)
  })
})
