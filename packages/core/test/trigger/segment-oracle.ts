// Segment's own trigger evaluator as the oracle for ours, the documented deviations, sample events and
// fast-check generators for trigger texts and events. Shared by the trigger tests.
import { parseFql, validate } from '@segment/destination-subscriptions'
import fc from 'fast-check'
import { TriggerParseError } from '../../src/errors'
import { matchesTrigger, parseTrigger } from '../../src/trigger/index'

/**
 * Inputs Segment's `parseFql` accepts but `parseTrigger` refuses, each recognised by our error message.
 * Nothing else may differ: whatever both accept must match the same events. docs/triggers.md lists these.
 */
export const DEVIATIONS = {
  // Segment gives "and" no precedence: a list joins with whichever connective comes last.
  mixedConnectives: /^Cannot mix "and" and "or" without parentheses/,
  // `x exists or y`: Segment takes "or" as the value of exists and joins with "and".
  swallowedOr: /follows the word operator/,
  // `(contains(event, "a") or b) and c`: Segment closes the group at the ")" of contains(), so the
  // rest of the group lands outside it, and `(a and contains(event, "x")` needs no ")" of its own.
  callInsideGroup:
    /(must be the last condition inside parentheses|^The "\(" at position \d+ is never closed)/,
  // Segment skips tokens it cannot use: stray words, ")", doubled or trailing connectives, "()".
  strayTokens: /^(Expected "and", "or", ","|Unexpected "\)"|Expected a condition at position)/,
  // Segment reads any token after an operator as the value: bare words, "=", "(", the end ("eos")...
  notAValue: /^Expected a value after/,
  // Segment ignores unknown fields, ignores anything after type./event./name./userId., and reads
  // `properties` alone as properties.properties; a path with no name makes its validate() throw.
  badField:
    /^(Unknown field|"[^"]*" at position \d+: \w+ has no sub-fields|"[^"]*" at position \d+ needs a path|Expected a name after "\."|Expected a field)/,
  // Segment takes any token as the operator (then never matches), and splits `<=5` into "<" and "=".
  badOperator: /^(Expected an operator after|Expected a space after)/,
  // Single quotes stay in the value; a closing quote glued to the next token opens a new string.
  quoting: /^(Strings take double quotes|Expected a space, ",", "\)" or the end after the string)/,
  // `-`, `5.x`: Segment reads NaN or 5 and then a stray word.
  badNumber: /^Malformed number/,
  // Segment reads the arguments of contains()/match() blindly, drops contains(type, ...), reads
  // match(event, "abc") as "ends with bc" and "!" in front of anything else as nothing.
  badCall:
    /^(Expected "\(" after|Expected "," after|Expected "\)" to close|"!" at position \d+ can only negate|\w+\(\) cannot read "type"|match\(\) takes a pattern)/,
  // A text ending in "a" or "n" plus one or two more characters (`= an`, `and n"`): Segment's lexer
  // loses those characters instead of failing.
  droppedAtEnd: /at the end of the trigger \(position \d+\): Segment's lexer drops/,
  // We cap the length; Segment only caps single tokens (100 000 characters).
  tooLong: /^A trigger may be at most/,
} as const

export type Deviation = keyof typeof DEVIATIONS

export function classifyDeviation(message: string): Deviation | undefined {
  return (Object.keys(DEVIATIONS) as Deviation[]).find((key) => DEVIATIONS[key].test(message))
}

/** Segment's answer for each event, or 'error' when parseFql fails or validate throws. */
export function segmentResults(text: string, events: readonly object[]): boolean[] | 'error' {
  const ast = parseFql(text)
  if ('error' in ast) return 'error'
  try {
    return events.map((event) => validate(ast, event))
  } catch {
    return 'error'
  }
}

export type Outcome =
  | { kind: 'both-reject' }
  | { kind: 'both-accept' }
  | { kind: 'deviation'; deviation: Deviation }
  | { kind: 'mismatch'; detail: string }

/** Runs both implementations on one text and the events; anything but a listed deviation must agree. */
export function compareWithSegment(text: string, events: readonly object[]): Outcome {
  const segment = segmentResults(text, events)
  let node
  try {
    node = parseTrigger(text)
  } catch (error) {
    if (!(error instanceof TriggerParseError)) return { kind: 'mismatch', detail: `threw ${String(error)}` }
    if (segment === 'error') return { kind: 'both-reject' }
    const deviation = classifyDeviation(error.message)
    return deviation
      ? { kind: 'deviation', deviation }
      : { kind: 'mismatch', detail: `Segment accepts, we throw an unlisted error: ${error.message}` }
  }
  if (segment === 'error')
    return { kind: 'mismatch', detail: `Segment rejects, we parse ${JSON.stringify(node)}` }
  for (const [i, event] of events.entries()) {
    const ours = matchesTrigger(node, event)
    if (ours !== segment[i]) {
      return {
        kind: 'mismatch',
        detail: `event ${JSON.stringify(event)}: Segment ${String(segment[i])}, ours ${String(ours)}; node ${JSON.stringify(node)}`,
      }
    }
  }
  return { kind: 'both-accept' }
}

/** Events that exercise types, missing fields, null, falsy parents and odd key names. */
export const SAMPLE_EVENTS: readonly object[] = [
  {
    type: 'track',
    event: 'Order Completed',
    userId: 'u1',
    properties: {
      total: 10,
      plan: 'pro',
      a: { b: 'x' },
      flag: true,
      s: '5',
      zero: 0,
      empty: '',
      nul: null,
      list: [1, 'a'],
    },
    traits: { plan: 'pro', age: 30, email: 'ann@example.com' },
    context: { locale: 'en-US', page: { path: '/checkout' }, traits: { plan: 'pro' } },
  },
  {
    type: 'identify',
    userId: 'u2',
    traits: { email: 'bob@example.com', plan: 'free', vip: false, score: '10', age: 9.5 },
  },
  { type: 'page', name: 'Home', properties: { path: '/', total: -1 } },
  { type: 'track', event: 'Transaction Created', properties: { total: '10', a: 0, flag: 'true' } },
  { type: 'track', event: 'null', userId: null, properties: { total: null, a: { b: null } } },
  {
    type: 'track',
    event: 5,
    userId: true,
    name: 7,
    properties: { x: -0.5, 'first name': 'Ann', '0': 'zero', and: 1 },
  },
  { type: 'group', traits: { plan: 'true', vip: true }, context: { locale: '' } },
  {},
  { type: 'track', event: 'Order', properties: false, traits: 'abc', context: 0 },
  {
    type: 'track',
    event: '',
    name: '',
    userId: '',
    properties: { total: 2.5, flag: false, a: '', s: 'abc' },
  },
  {
    type: 'Track',
    event: 'eos',
    userId: false,
    properties: { a: { b: { c: 5 } }, total: 1e21, plan: 'Pro' },
  },
  { type: 'screen', name: 'Settings', properties: { total: 0, plan: 'pro plus', 'a.b': 1, x: NaN } },
  {
    type: 'track',
    event: 'Signed Up',
    userId: 'u3',
    properties: { plan: 'pro', total: 100, a: { b: 'y' } },
    traits: { plan: null },
  },
]

// ---- generators -------------------------------------------------------------------------------------

const KEYS = [
  'a',
  'b',
  'plan',
  'total',
  'x-y',
  'first name',
  'and',
  '0',
  'null',
  'true',
  'length',
  'flag',
  'constructor',
]
const STRINGS = [
  '',
  'a',
  'ab',
  'b',
  'track',
  'identify',
  'page',
  'Order',
  'Order Completed',
  '5',
  '10',
  'true',
  'null',
  ' a',
  'A',
  'pro',
  'eos',
  'x\\y',
  'é',
]
const NUMBERS = ['0', '5', '10', '-1', '2.5', '+3', '-.5', '007', '-0', '1.0', '100', '9.5']

const leafValue = fc.oneof(
  fc.constantFrom(...STRINGS),
  fc.integer({ min: -2, max: 12 }),
  fc.constantFrom(2.5, -0.5, 0, -0, 9.5, 100, Number.NaN),
  fc.boolean(),
  fc.constant(null),
)
const nestedValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafValue,
    fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 4 }),
    fc.array(tie('value'), { maxLength: 2 }),
  ),
})).value

/** Random Segment-like events over the same names and values the generated triggers use. */
export const eventArbitrary: fc.Arbitrary<object> = fc.record(
  {
    type: fc.constantFrom('track', 'identify', 'page', 'group', 'Track', 5, null),
    event: fc.oneof(fc.constantFrom(...STRINGS), leafValue),
    name: fc.oneof(fc.constantFrom('Home', 'a', ''), leafValue),
    userId: leafValue,
    properties: fc.oneof(
      { weight: 4, arbitrary: fc.dictionary(fc.constantFrom(...KEYS), nestedValue, { maxKeys: 5 }) },
      leafValue,
    ),
    traits: fc.dictionary(fc.constantFrom(...KEYS), nestedValue, { maxKeys: 5 }),
    context: fc.oneof(fc.dictionary(fc.constantFrom(...KEYS), nestedValue, { maxKeys: 5 }), leafValue),
  },
  { requiredKeys: [] },
)

/** Token kinds that decide where whitespace may be left out (Segment's lexer rules). */
type Piece = {
  text: string
  kind: 'ident' | 'kw' | 'str' | 'num' | 'eq' | 'lt' | 'ne' | 'le' | 'bang' | 'lp' | 'rp' | 'comma' | 'dot'
}

function mayTouch(prev: Piece, next: Piece): boolean {
  switch (prev.kind) {
    case 'bang':
      return true
    case 'str':
    case 'kw':
    case 'ne':
    case 'le':
      return next.kind === 'comma' || next.kind === 'rp'
    case 'ident':
      return ['comma', 'rp', 'dot', 'lp', 'eq', 'ne'].includes(next.kind)
    case 'num':
      return ['comma', 'rp', 'kw'].includes(next.kind)
    default:
      return true
  }
}

type Gen = fc.GeneratorValue

// One builder for every pick, so fc.gen() can cache it.
const fromValues = <T>(...values: T[]) => fc.constantFrom(...values)
const pick = <T>(g: Gen, values: readonly T[]): T => g(fromValues<T>, ...values)
const int = (g: Gen, min: number, max: number): number => g(fc.integer, { min, max })

function render(g: Gen, pieces: Piece[]): string {
  let out = pick(g, ['', '', ' ', '\n'])
  pieces.forEach((piece, i) => {
    const prev = pieces[i - 1]
    if (prev) {
      if (prev.kind === 'bang') out += ''
      else if (prev.kind === 'dot' || piece.kind === 'dot') out += pick(g, ['', '', '', ' '])
      else {
        const space = pick(g, [' ', ' ', ' ', ' ', '  ', '\t', '\n', ' \n\t'])
        out += mayTouch(prev, piece) && g(fc.boolean) ? '' : space
      }
    }
    out += piece.text
  })
  return out + pick(g, ['', '', ' ', '\t\n'])
}

function escapeSegment(g: Gen, segment: string): string {
  let text = ''
  for (const [i, c] of [...segment].entries()) {
    const plain = /[A-Za-z0-9_-]/.test(c) && !(i === 0 && /[0-9-]/.test(c))
    text += plain && !pick(g, [false, false, false, false, true]) ? c : `\\${c}`
  }
  // "and", "or" and "null" followed by a space would read as keywords.
  return /^(and|or|null)$/.test(text) ? `\\${text}` : text
}

const ROOTS = ['properties', 'traits', 'context'] as const

function fieldPieces(g: Gen, allowType = true): Piece[] {
  const top = pick(g, allowType ? ['type', 'event', 'name', 'userId'] : ['event', 'name', 'userId'])
  if (pick(g, [true, false, false])) return [{ text: top, kind: 'ident' }]
  const pieces: Piece[] = [{ text: pick(g, ROOTS), kind: 'ident' }]
  const depth = int(g, 1, 3)
  for (let i = 0; i < depth; i++) {
    pieces.push({ text: '.', kind: 'dot' }, { text: escapeSegment(g, pick(g, KEYS)), kind: 'ident' })
  }
  return pieces
}

function literalPiece(g: Gen): Piece {
  switch (int(g, 0, 5)) {
    case 0:
    case 1:
      return { text: `"${pick(g, STRINGS)}"`, kind: 'str' }
    case 2:
    case 3:
      return { text: pick(g, NUMBERS), kind: 'num' }
    case 4:
      return { text: pick(g, ['true', 'false']), kind: 'ident' }
    default:
      return { text: 'null', kind: 'kw' }
  }
}

const SYMBOLS: Piece[] = [
  { text: '=', kind: 'eq' },
  { text: '!=', kind: 'ne' },
  { text: '<', kind: 'lt' },
  { text: '>', kind: 'lt' },
  { text: '<=', kind: 'le' },
  { text: '>=', kind: 'le' },
]
const BINARY_WORDS = [
  'contains',
  'not_contains',
  'starts_with',
  'not_starts_with',
  'ends_with',
  'not_ends_with',
  'number_equals',
  'number_not_equals',
]
const UNARY_WORDS = ['exists', 'not_exists', 'is_true', 'is_false']

interface GeneratedCondition {
  pieces: Piece[]
  /** Ends in exists/not_exists/is_true/is_false. */
  word: boolean
  /** Written as contains(...) or match(...). */
  call: boolean
}

/** One condition in any of the forms the language has, valid by construction. */
function conditionPieces(g: Gen, { call = true, word = true } = {}): GeneratedCondition {
  const form = int(g, 0, 9)
  if (form <= 3)
    return { pieces: [...fieldPieces(g), pick(g, SYMBOLS), literalPiece(g)], word: false, call: false }
  if (form <= 5) {
    return {
      pieces: [...fieldPieces(g), { text: pick(g, BINARY_WORDS), kind: 'ident' }, literalPiece(g)],
      word: false,
      call: false,
    }
  }
  if (form === 6 && word)
    return {
      pieces: [...fieldPieces(g), { text: pick(g, UNARY_WORDS), kind: 'ident' }],
      word: true,
      call: false,
    }
  if (form >= 7 && call) {
    const bang: Piece[] = g(fc.boolean) ? [{ text: '!', kind: 'bang' }] : []
    const match = form === 9
    const name: Piece = { text: match ? 'match' : 'contains', kind: 'ident' }
    const value: Piece = match
      ? {
          text: `"${pick(g, ['*', ...STRINGS.filter((s) => s !== '').flatMap((s) => [`${s}*`, `*${s}`])])}"`,
          kind: 'str',
        }
      : literalPiece(g)
    const pieces: Piece[] = [
      ...bang,
      name,
      { text: '(', kind: 'lp' },
      ...fieldPieces(g, false),
      { text: ',', kind: 'comma' },
      value,
      { text: ')', kind: 'rp' },
    ]
    return { pieces, word: false, call: true }
  }
  return conditionPieces(g, { call, word })
}

function joint(g: Gen, op: 'and' | 'or'): Piece {
  if (op === 'or') return { text: 'or', kind: 'kw' }
  return g(fc.boolean) ? { text: 'and', kind: 'kw' } : { text: ',', kind: 'comma' }
}

/** A trigger text inside the language `parseTrigger` accepts (so Segment must accept it too). */
export function validTriggerText(g: Gen): string {
  const count = int(g, 1, 4)
  const op = pick(g, ['and' as const, 'or' as const])
  const pieces: Piece[] = []
  for (let i = 0; i < count; i++) {
    if (i > 0) pieces.push(joint(g, op))
    // In an "or" list the first item must not end in a word operator, so that Segment sees an "or".
    const first = op === 'or' && i === 0 && count > 1
    if (pick(g, [false, false, true])) {
      const inner = int(g, 1, 3)
      const innerOp = pick(g, ['and' as const, 'or' as const])
      pieces.push({ text: '(', kind: 'lp' })
      for (let j = 0; j < inner; j++) {
        if (j > 0) pieces.push(joint(g, innerOp))
        const last = j === inner - 1
        pieces.push(
          ...conditionPieces(g, { call: last, word: !(innerOp === 'or' && j === 0 && inner > 1) }).pieces,
        )
      }
      pieces.push({ text: ')', kind: 'rp' })
    } else {
      pieces.push(...conditionPieces(g, { word: !first }).pieces)
    }
  }
  return render(g, pieces)
}

const SOUP = [
  'type',
  'event',
  'name',
  'userId',
  'properties.a',
  'traits.b.c',
  'context.x',
  'properties',
  'type.x',
  'Event',
  'foo',
  '=',
  '!=',
  '<',
  '<=',
  '>',
  '>=',
  '==',
  '!',
  'contains',
  'match',
  'contains(',
  'match(',
  '!contains(',
  'exists',
  'is_true',
  'not_exists',
  'number_equals',
  'starts_with',
  '"a"',
  '"ab"',
  '""',
  '"a*"',
  '"*b"',
  "'a'",
  '5',
  '-1',
  '2.5',
  '-',
  '5.',
  'true',
  'false',
  'null',
  'and',
  'or',
  'AND',
  ',',
  '(',
  ')',
  '.',
  '[',
  ']',
  '\\',
  '\\and',
  'track',
  '\r',
  '€',
  '"',
  'an',
  'n',
  'nu',
  'a',
  'properties.first\\ name',
  '"a"and',
  '!=',
  '-.5',
  '+',
  'not_contains',
  '*',
]

/** Token soup: mostly nonsense, to probe what each parser refuses. */
export function soupText(g: Gen): string {
  const count = int(g, 1, 9)
  let text = ''
  for (let i = 0; i < count; i++) text += pick(g, SOUP) + pick(g, ['', ' ', ' ', '\n'])
  return text
}

const CHARACTERS = [...'andorulevtyp.(),"\'=!<>\\-+05 \t\n*[]_'] as const

/** Character soup over the characters that matter to Segment's lexer: probes token boundaries. */
export function characterText(g: Gen): string {
  const prefix = pick(g, ['', '', 'event', 'properties.a', 'type = "track" and '])
  let text = prefix
  const count = int(g, 1, 14)
  for (let i = 0; i < count; i++) text += pick(g, CHARACTERS)
  return text
}

/** A valid text with one character removed, inserted or replaced. */
export function mutatedText(g: Gen): string {
  const text = validTriggerText(g)
  const at = int(g, 0, text.length)
  const char = pick(g, [...'"\'()=!<>,. \\-+0a*[]'])
  switch (int(g, 0, 2)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1)
    case 1:
      return text.slice(0, at) + char + text.slice(at)
    default:
      return text.slice(0, at) + char + text.slice(at + 1)
  }
}
