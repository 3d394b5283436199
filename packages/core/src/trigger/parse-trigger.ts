// Parses Segment's subscription language ("FQL") into a TriggerNode. The language is what Segment's
// `parseFql` (@segment/destination-subscriptions on @segment/fql-ts) accepts, minus the inputs it reads in
// a way the author cannot have meant (mixed and/or without parentheses, stray words, ...): those are
// refused with the position instead. Whatever this parser accepts evaluates exactly as Segment does.
// docs/triggers.md has the grammar and the list of refusals.
import { TriggerParseError } from '../errors'
import type { TriggerCondition, TriggerField, TriggerNode, TriggerOperator } from './trigger-node'

/** Longer triggers are refused (Segment's own lexer gives up on any token of 100 000 characters). */
export const MAX_TRIGGER_LENGTH = 10_000

type TokenKind = 'ident' | 'keyword' | 'string' | 'number' | 'op' | 'punct' | 'eos'

interface Token {
  kind: TokenKind
  /** ident: the name with escapes resolved; string: the content; otherwise the source text. */
  text: string
  /** The source text, for messages. */
  raw: string
  pos: number
  /** For `op`: whether a space, `,`, `)`, `]` or the end follows (Segment's lexer needs one after some). */
  spaced: boolean
}

type Literal = string | number | boolean | null

const FIELDS = 'type, event, name, userId, properties.<path>, traits.<path> or context.<path>'
const BINARY_WORDS = new Set([
  'contains',
  'not_contains',
  'starts_with',
  'not_starts_with',
  'ends_with',
  'not_ends_with',
  'number_equals',
  'number_not_equals',
])
const UNARY_WORDS = new Set(['exists', 'not_exists', 'is_true', 'is_false'])
const SYMBOL_OPERATORS = new Set(['=', '!=', '<', '<=', '>', '>='])

const isAlpha = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
const isDigit = (c: string) => c >= '0' && c <= '9'
const isIdentChar = (c: string) => isAlpha(c) || isDigit(c) || c === '_' || c === '-' || c === '\\'
// Segment's lexer: what may follow a string, a keyword, `!=`, `<=` and `>=` ('' is the end).
const isTerminator = (c: string) =>
  c === '' || c === ' ' || c === '\t' || c === '\n' || c === ',' || c === ']' || c === ')'

/** Source text for a message: short, control characters escaped. */
function show(text: string): string {
  const shown = text.length > 30 ? `${text.slice(0, 29)}…` : text
  // eslint-disable-next-line no-control-regex
  return shown.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1))
}

/** One character for a message, quoted and escaped: "<", "\"", "\r". */
const char = (c: string) => JSON.stringify(c)

function found(token: Token): string {
  if (token.kind === 'eos') return 'the end of the trigger'
  return token.kind === 'string' ? show(token.raw) : `"${show(token.raw)}"`
}

function fail(message: string, pos: number): never {
  throw new TriggerParseError(message, pos)
}

/** Splits the text into tokens with the same boundaries as Segment's lexer. */
function tokenize(source: string): Token[] {
  const tokens: Token[] = []
  const at = (i: number) => source.charAt(i)
  const push = (kind: TokenKind, text: string, pos: number, end: number, spaced = false) =>
    tokens.push({ kind, text, raw: source.slice(pos, end), pos, spaced })
  let i = 0
  while (i < source.length) {
    const c = at(i)
    const start = i
    if (c === ' ' || c === '\t' || c === '\n') {
      i++
    } else if (c === '!' && (isAlpha(at(i + 1)) || at(i + 1) === '(')) {
      push('punct', '!', i, ++i)
    } else if (c === '=' || c === '<' || c === '>' || c === '!') {
      while (i < source.length && '=<>!'.includes(at(i))) i++
      push('op', source.slice(start, i), start, i, isTerminator(at(i)))
    } else if (c === '"') {
      const close = source.indexOf('"', i + 1)
      if (close < 0) fail(`Unterminated string at position ${i}: strings end with a double quote`, i)
      i = close + 1
      if (!isTerminator(at(i))) {
        fail(
          `Expected a space, ",", ")" or the end after the string at position ${start}, found ${char(at(i))} at position ${i}`,
          i,
        )
      }
      push('string', source.slice(start + 1, close), start, i)
    } else if (c === "'") {
      fail(
        `Strings take double quotes: the single quote at position ${i} would stay part of the value in Segment`,
        i,
      )
    } else if (isAlpha(c) || c === '_' || c === '\\') {
      // Segment's keywords: "and", "or" and "null" followed by a space, ",", ")", "]" or the end.
      const keyword = ['and', 'or', 'null'].find(
        (k) => source.startsWith(k, i) && isTerminator(at(i + k.length)),
      )
      if (keyword) {
        i += keyword.length
        push('keyword', keyword, start, i)
        continue
      }
      // Segment's look-ahead for "and"/"null" does not step back when it meets the end, so "a" or "n"
      // followed by one or two last characters loses them ("… n\"" lexes as "n"). Refuse those texts.
      const tail = source.slice(i + 1)
      if ((c === 'a' || c === 'n') && tail.length > 0 && tail.length <= (c === 'a' ? 1 : 2)) {
        if (![...tail].some(isTerminator)) {
          fail(
            `Unexpected "${show(source.slice(i))}" at the end of the trigger (position ${i}): Segment's lexer ` +
              'drops its last characters',
            i,
          )
        }
      }
      let name = ''
      do {
        if (at(i) === '\\') {
          if (i + 1 >= source.length) fail(`Nothing to escape after "\\" at position ${i}`, i)
          i++
        }
        name += at(i)
        i++
      } while (i < source.length && isIdentChar(at(i)))
      const next = at(i)
      if (!(isTerminator(next) || '.(=!'.includes(next))) {
        fail(`Unexpected character ${char(next)} after "${show(source.slice(start, i))}" at position ${i}`, i)
      }
      push('ident', name, start, i)
    } else if (isDigit(c) || c === '-' || c === '+') {
      // Segment takes digits and dots after the first character; we then want sign? digits (. digits)?.
      i++
      while (isDigit(at(i)) || at(i) === '.') i++
      const raw = source.slice(start, i)
      if (!/^[+-]?(?:\d+(?:\.\d+)?|\.\d+)$/.test(raw))
        fail(`Malformed number "${show(raw)}" at position ${start}`, start)
      push('number', raw, start, i)
    } else if ('(),.[]'.includes(c)) {
      push('punct', c, i, ++i)
    } else {
      fail(`Unexpected character ${char(c)} at position ${i}`, i)
    }
  }
  push('eos', '', source.length, source.length)
  return tokens
}

interface Parsed {
  node: TriggerNode
  /** A trailing `exists`-like word: Segment takes the token after it as its (unused) value. */
  swallows?: Token
  /** contains() or match(): Segment ends a parenthesised group at its `)`. */
  call?: string
}

/**
 * Parses a trigger written in Segment's subscription language, e.g.
 * `type = "track" and event = "Transaction Created"`. Throws `TriggerParseError` with the 0-based
 * position of the problem.
 */
export function parseTrigger(text: string): TriggerNode {
  if (typeof text !== 'string') {
    fail(`A trigger must be a string (Received: ${text === null ? 'null' : typeof text})`, 0)
  }
  if (text.length > MAX_TRIGGER_LENGTH) {
    fail(
      `A trigger may be at most ${MAX_TRIGGER_LENGTH} characters long (Received: ${text.length} characters)`,
      MAX_TRIGGER_LENGTH,
    )
  }
  const tokens = tokenize(text)
  let index = 0
  const peek = (): Token => tokens[index] as Token
  const next = (): Token => tokens[index++] as Token
  const is = (token: Token, kind: TokenKind, value?: string) =>
    token.kind === kind && (value === undefined || token.text === value)

  function expect(kind: TokenKind, value: string, context: string): Token {
    const token = peek()
    if (!is(token, kind, value))
      fail(`Expected "${value}" ${context} at position ${token.pos}, found ${found(token)}`, token.pos)
    return next()
  }

  function connectiveHint(token: Token): string {
    const word = token.text.toLowerCase()
    if (token.kind === 'ident' && (word === 'and' || word === 'or')) {
      return token.text === word
        ? ` (put a space after "${word}": Segment only reads it as a connective when a space, "," or ")" follows)`
        : ` (write "${word}" in lower case)`
    }
    return ''
  }

  /** Conditions joined by one kind of connective; at the top level items may be parenthesised groups. */
  function parseList(top: boolean, open?: Token): TriggerNode {
    const children: TriggerNode[] = []
    let op: 'and' | 'or' | undefined
    let seenOr = false
    let swallowedOr: { or: Token; word: Token } | undefined
    for (;;) {
      const first = peek()
      let item: Parsed
      if (is(first, 'punct', '(')) {
        if (!top) {
          fail(
            `Parentheses cannot be nested ("(" at position ${first.pos}): Segment's trigger parser fails on nested groups`,
            first.pos,
          )
        }
        item = { node: parseGroup() }
      } else {
        item = parseCondition()
      }
      children.push(item.node)
      const token = peek()
      if (!is(token, 'keyword', 'and') && !is(token, 'keyword', 'or') && !is(token, 'punct', ',')) break
      const joint = token.text === 'or' ? 'or' : 'and'
      if (op !== undefined && op !== joint) {
        fail(
          `Cannot mix "and" and "or" without parentheses ("${token.text}" at position ${token.pos}): Segment does ` +
            'not give "and" precedence, it joins the whole group with the last connective',
          token.pos,
        )
      }
      // After exists/not_exists/is_true/is_false Segment takes the next token as the operator's value, so
      // that "or" is never seen; if no other "or" of the list is seen, Segment joins the list with "and".
      if (joint === 'or') {
        if (item.swallows) swallowedOr ??= { or: token, word: item.swallows }
        else seenOr = true
      }
      if (item.call && !top) {
        fail(
          `${item.call}() must be the last condition inside parentheses ("${token.text}" at position ${token.pos}): ` +
            `Segment ends the group at the ")" of ${item.call}(). Move it last, or write it as an operator ` +
            '(e.g. event contains "x")',
          token.pos,
        )
      }
      op = joint
      next()
    }
    if (swallowedOr && !seenOr) {
      const { or, word } = swallowedOr
      fail(
        `"or" at position ${or.pos} follows the word operator "${word.text}": Segment takes the token after ` +
          'such an operator as its value, never sees this "or" and joins the conditions with "and". Write that ' +
          'condition as "!= null", "= null", "= true" or "= false", or put it in parentheses or last',
        or.pos,
      )
    }
    const end = peek()
    if (top && !is(end, 'eos')) {
      if (is(end, 'punct', ')'))
        fail(`Unexpected ")" at position ${end.pos}: there is no "(" to close`, end.pos)
      fail(
        `Expected "and", "or", "," or the end of the trigger at position ${end.pos}, found ${found(end)}${connectiveHint(end)}`,
        end.pos,
      )
    }
    if (!top && !is(end, 'punct', ')')) {
      if (is(end, 'eos') && open) fail(`The "(" at position ${open.pos} is never closed`, end.pos)
      fail(
        `Expected "and", "or", "," or ")" at position ${end.pos}, found ${found(end)}${connectiveHint(end)}`,
        end.pos,
      )
    }
    const only = children[0]
    return children.length === 1 && only ? only : { op: op ?? 'and', children }
  }

  function parseGroup(): TriggerNode {
    const open = next()
    const node = parseList(false, open)
    next()
    return node
  }

  /** A dotted path: `properties.a.b`, with Segment's escapes (`properties.first\ name`). */
  function parsePath(context: string): { field: TriggerField; token: Token; raw: string } {
    const token = peek()
    if (!is(token, 'ident'))
      fail(`Expected ${context} at position ${token.pos}, found ${found(token)}`, token.pos)
    next()
    let full = token.text
    let end = token.pos + token.raw.length
    while (is(peek(), 'punct', '.')) {
      next()
      const segment = peek()
      if (!is(segment, 'ident')) {
        const hint =
          segment.kind === 'number' || segment.kind === 'keyword' ? ` (escape it: "\\${segment.raw}")` : ''
        fail(
          `Expected a name after "." at position ${segment.pos}, found ${found(segment)}${hint}`,
          segment.pos,
        )
      }
      next()
      full += `.${segment.text}`
      end = segment.pos + segment.raw.length
    }
    const raw = text.slice(token.pos, end)
    const root = full.split('.')[0] ?? ''
    if (root === 'type' || root === 'event' || root === 'name' || root === 'userId') {
      if (full !== root) fail(`"${show(raw)}" at position ${token.pos}: ${root} has no sub-fields`, token.pos)
      return { field: root, token, raw }
    }
    if (root === 'properties' || root === 'traits' || root === 'context') {
      // Segment's lookup splits the rest at ".", "[" and "]" and skips empty parts.
      const parts = full
        .slice(root.length + 1)
        .split(/[.[\]]/)
        .filter(Boolean)
      if (parts.length === 0) {
        fail(`"${show(raw)}" at position ${token.pos} needs a path, e.g. ${root}.plan`, token.pos)
      }
      return { field: `${root}.${parts.join('.')}` as TriggerField, token, raw }
    }
    return fail(`Unknown field "${show(raw)}" at position ${token.pos}: expected ${FIELDS}`, token.pos)
  }

  function parseLiteral(after: Token): Literal {
    const token = peek()
    let value: Literal
    if (token.kind === 'string') value = token.text
    else if (token.kind === 'number') value = Number(token.text)
    else if (is(token, 'keyword', 'null') || is(token, 'ident', 'null')) value = null
    else if (is(token, 'ident', 'true') || is(token, 'ident', 'false')) value = token.text === 'true'
    else {
      const hint = token.kind === 'ident' ? ' (text values need double quotes)' : ''
      return fail(
        `Expected a value after "${show(after.raw)}" at position ${token.pos}, found ${found(token)}${hint}`,
        token.pos,
      )
    }
    next()
    return value
  }

  function parseCondition(): Parsed {
    const first = peek()
    if (is(first, 'punct', '!')) {
      next()
      const name = peek()
      if (!(is(name, 'ident', 'contains') || is(name, 'ident', 'match'))) {
        fail(
          `"!" at position ${first.pos} can only negate contains() or match(), found ${found(name)}`,
          first.pos,
        )
      }
      return parseCall(true)
    }
    if (
      (is(first, 'ident', 'contains') || is(first, 'ident', 'match')) &&
      is(tokens[index + 1] as Token, 'punct', '(')
    ) {
      return parseCall(false)
    }
    if (first.kind !== 'ident') {
      fail(
        `Expected a condition at position ${first.pos}, found ${found(first)}${connectiveHint(first)}`,
        first.pos,
      )
    }
    const { field, raw } = parsePath('a field')
    const operator = peek()
    const word = operator.kind === 'ident' ? operator.text : ''
    if (UNARY_WORDS.has(word)) {
      return { node: { field, op: word as TriggerOperator }, swallows: next() }
    }
    if (!(BINARY_WORDS.has(word) || (operator.kind === 'op' && SYMBOL_OPERATORS.has(operator.text)))) {
      fail(
        `Expected an operator after "${show(raw)}" at position ${operator.pos}, found ${found(operator)}`,
        operator.pos,
      )
    }
    if (operator.kind === 'op' && operator.text.length === 2 && !operator.spaced) {
      const after = operator.pos + 2
      fail(
        `Expected a space after "${operator.text}" at position ${after}, found ${char(text.charAt(after))}`,
        after,
      )
    }
    next()
    return { node: condition(field, (word || operator.text) as TriggerOperator, parseLiteral(operator)) }
  }

  /** contains(field, value), match(field, "abc*"), match(field, "*abc"), optionally negated with "!". */
  function parseCall(negate: boolean): Parsed {
    const name = next()
    const call = name.text
    expect('punct', '(', `after "${call}"`)
    const { field, token } = parsePath('a field')
    if (field === 'type') {
      fail(`${call}() cannot read "type" (position ${token.pos}): Segment drops such a condition`, token.pos)
    }
    const comma = expect('punct', ',', `after the field of ${call}()`)
    const valueToken = peek()
    const value = parseLiteral(comma)
    expect('punct', ')', `to close ${call}()`)
    const not = negate ? 'not_' : ''
    if (call === 'contains') {
      return { node: { field, op: `${not}contains` as TriggerOperator, value: String(value) }, call }
    }
    const pattern = typeof value === 'string' ? value : undefined
    const star = pattern?.indexOf('*') ?? -1
    let op: 'starts_with' | 'ends_with' | undefined
    if (pattern !== undefined && star === pattern.length - 1) op = 'starts_with'
    else if (pattern !== undefined && star === 0 && pattern.lastIndexOf('*') === 0) op = 'ends_with'
    if (pattern === undefined || op === undefined) {
      return fail(
        `match() takes a pattern "abc*" (starts with) or "*abc" (ends with) with no other "*", at position ` +
          `${valueToken.pos}, found ${found(valueToken)}`,
        valueToken.pos,
      )
    }
    const rest = op === 'starts_with' ? pattern.slice(0, -1) : pattern.slice(1)
    return { node: { field, op: `${not}${op}` as TriggerOperator, value: rest }, call }
  }

  const node = parseList(true)
  return node
}

/** Segment's condition for `field op literal`: its special cases for null, booleans and numbers. */
function condition(field: TriggerField, op: TriggerOperator, literal: Literal): TriggerCondition {
  // Segment's value for a token: string content, Number(text), true/false, and "null" as text.
  const value = literal === null ? 'null' : literal
  if (field === 'type' || field === 'event') return { field, op, value: String(value) }
  if (field !== 'name' && op === '=' && typeof literal === 'boolean') {
    return { field, op: literal ? 'is_true' : 'is_false' }
  }
  if (literal === null && (op === '=' || op === '!='))
    return { field, op: op === '=' ? 'not_exists' : 'exists' }
  if (field === 'name' || field === 'userId') return { field, op, value: String(value) }
  if (typeof value === 'number' && (op === '=' || op === '!=')) {
    return { field, op: op === '=' ? 'number_equals' : 'number_not_equals', value: jsonNumber(value) }
  }
  return { field, op, value: typeof value === 'number' ? jsonNumber(value) : value }
}

/** JSON has no Infinity (a 400-digit literal) and turns -0 into 0; both keep their meaning this way. */
function jsonNumber(value: number): number | string {
  if (!Number.isFinite(value)) return String(value)
  return Object.is(value, -0) ? 0 : value
}
