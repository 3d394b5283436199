// Compiles a field mapping (Segment's mapping directives) into a program for runMapping: plain JSON,
// decided once, where size does not matter (the proxy, parseMappingSet). Everything that depends only
// on the mapping is settled here: paths split, @replace's regular expressions escaped with their flags
// and Segment's defaults, which @if test, which @case operator, @json's mode, mixed objects read as
// data, `_metadata` and `__proto__` keys, and the full text of every error a directive can raise when
// it is evaluated (its path in the mapping included), so that the browser ships no message text.
// The node forms are documented in run-mapping.ts.
import { describeValue, MappingError, type FieldIssue } from '../errors'
import { isPlainObject } from '../is-plain-object'
import { Op, split, type MappingProgram, type ProgramValue } from './run-mapping'

type Obj = Record<string, unknown>

/**
 * Where each error text of a program comes from: the text (whole, or its start up to "(Received: "
 * when the value is only known while running) and the issue it stands for (message likewise cut).
 */
export type ProgramTexts = Array<readonly [text: string, issue: FieldIssue]>

const isObj: (value: unknown) => value is Obj = isPlainObject
const isArray = Array.isArray
const join = (path: string, key: string | number): string => (path ? `${path}.${key}` : String(key))

/** undefined, as a program value. */
const nothing = (): ProgramValue => [Op.Literal]

/** A literal: JSON values as they are; undefined, -0 and values JSON cannot carry as nodes. */
function literal(value: unknown): ProgramValue {
  const type = typeof value
  if (value === null || type == 'string' || type == 'boolean') return value as ProgramValue
  // JSON writes -0 as 0; JSON.parse("-0") gives it back, so -0 is @json's decoding of "-0".
  if (Object.is(value, -0)) return [Op.Json, '-0']
  if (type == 'number' && Number.isFinite(value)) return value as number
  return value === undefined ? nothing() : [Op.Literal, value as ProgramValue]
}

/** Drops trailing undefined values (`[Op.Literal]`) from a node: an absent element reads as undefined. */
function trim(node: ProgramValue[]): ProgramValue[] {
  for (let last = node[node.length - 1]; isArray(last) && last.length == 1 && last[0] === Op.Literal;) {
    node.pop()
    last = node[node.length - 1]
  }
  return node
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** A @path with a fixed path: its keys, split as Segment splits them. */
const pathNode = (path: string): ProgramValue => [Op.Path, ...split(path.replace('$.', ''))]

/**
 * Compiles a field mapping (`{ field: value-or-directive }`) into a program that runMapping evaluates
 * exactly as Segment's `transform` evaluates the mapping. Pure and deterministic: the same mapping gives
 * the same program, key order included. Throws MappingError when `fields` is not an object of fields.
 * A mapping of JSON values gives a JSON program; other values (a Date, a function, NaN) are kept as
 * literals that JSON cannot carry.
 */
export function compileMapping(fields: unknown): MappingProgram {
  return compileWithTexts(fields).program
}

/** compileMapping, with the origin of each error text of the program (applyMapping's issues). */
export function compileWithTexts(fields: unknown): { program: MappingProgram; texts: ProgramTexts } {
  if (!isObj(fields) || Object.keys(fields).some((key) => key[0] == '@')) {
    throw new MappingError(`A mapping must be an object of fields (Received: ${describeValue(fields)})`)
  }
  const texts: ProgramTexts = []

  /**
   * The error text of the directive at `path`: "<message> (Received: <value>)" with the value given,
   * or, without one, the text up to "(Received: " (runMapping adds the value it received).
   */
  const text = (path: string, message: string, ...received: [unknown?]): string => {
    const issue = {
      path,
      message: `${message} (Received: ${received.length ? `${describeValue(received[0])})` : ''}`,
    }
    const whole = new MappingError('Cannot apply the mapping', [issue]).message
    texts.push([whole, issue])
    return whole
  }

  const compile = (value: unknown, path: string): ProgramValue => {
    if (isArray(value)) {
      return [Op.Array, ...Array.from(value as unknown[], (item, index) => compile(item, join(path, index)))]
    }
    if (!isObj(value)) return literal(value)
    const keys = Object.keys(value)
    let directive: string | undefined
    let plain = false
    for (const key of keys) {
      if (key[0] == '@') directive = directive || key
      else plain = plain || key != '_metadata'
    }
    // Like Segment, an object mixing @-keys with other keys is plain data (checkMapping reports it).
    if (directive && !plain) return compileDirective(value, directive, path)
    const out: Record<string, ProgramValue> = {}
    for (const key of keys) if (key != '__proto__') out[key] = compile(value[key], join(path, key))
    return out
  }

  /**
   * One directive, `node[name]` at `path`. A directive Segment refuses when it evaluates it compiles to
   * a node that throws its text, so that it fails only if it is evaluated (an @if branch not taken).
   */
  const compileDirective = (node: Obj, name: string, path: string): ProgramValue => {
    const arg = node[name]
    const at = join(path, name)
    // The options object of the directives that take one; anything else reads as no options.
    const o: Obj = isObj(arg) ? arg : {}
    const option = (key: string) => compile(o[key], join(at, key))
    const invalid = (...received: [unknown?]) => text(path, `${name} has an invalid argument`, ...received)
    const refuse = (): ProgramValue => [Op.Fail, invalid(arg)]
    /** A value only known while running (a directive, an object) or fixed now (a literal)? */
    const isFixed = (value: unknown) => !isObj(value) && !isArray(value)

    switch (name) {
      case '@path':
      case '@template': {
        if (typeof arg == 'string') return name == '@path' ? pathNode(arg) : [Op.Template, arg]
        // Any other literal is no string: it fails whenever it is evaluated.
        if (isFixed(arg)) return [Op.Fail, text(path, `${name} needs a string`, arg)]
        return [
          name == '@path' ? Op.PathOf : Op.Template,
          compile(arg, at),
          text(path, `${name} needs a string`),
        ]
      }
      case '@literal':
        return compile(arg, at)
      case '@if': {
        if (!o.exists && !o.blank) return refuse()
        const byExists = o.exists !== undefined
        const node = [Op.If, option(byExists ? 'exists' : 'blank'), byExists ? 0 : 1, option('then')]
        // A falsy `else` is ignored, as in Segment.
        if (o.else) node.push(option('else'))
        return trim(node)
      }
      case '@excludeWhenNull':
        return [Op.ExcludeNull, compile(arg, at)]
      case '@case':
        if (!o.operator) return refuse()
        if (!o.value) return nothing()
        // An unknown operator fails on string values only.
        return [
          Op.Case,
          option('value'),
          o.operator === 'lower' ? 'toLowerCase' : o.operator === 'upper' ? 'toUpperCase' : invalid(arg),
        ]
      case '@replace': {
        if (!o.pattern) return refuse()
        if (!o.value) return nothing()
        const value = option('value')
        // Segment's defaults, for null as for undefined.
        const { pattern, pattern2 } = o
        const global = o.global == null || o.global
        const ignoreCase = o.ignorecase != null && o.ignorecase
        const by = o.replacement == null ? '' : o.replacement
        const by2 = o.replacement2 == null ? '' : o.replacement2
        // Unusable options give "" for every value: an @if whose branches are both "".
        if (
          typeof pattern != 'string' ||
          typeof by != 'string' ||
          typeof global != 'boolean' ||
          typeof ignoreCase != 'boolean'
        ) {
          return [Op.If, value, 0, '', '']
        }
        const parts = [pattern, by]
        const second = pattern2 && typeof pattern2 == 'string' && typeof by2 == 'string'
        if (second) parts.push(pattern2, by2)
        // Segment refuses patterns and replacements over 10 characters, but only when it gets to use them.
        if (parts.some((part) => part.length > 10)) return [Op.Replace, value, invalid(arg)]
        const flags = (global ? 'g' : '') + (ignoreCase ? 'i' : '')
        // The second pair replaces in the result of the first.
        const first = [Op.Replace, value, [escape(pattern), by, flags]]
        return second ? [Op.Replace, first, [escape(pattern2), by2, flags]] : first
      }
      case '@arrayPath': {
        if (!isArray(arg)) return refuse()
        const [from, shape] = arg as unknown[]
        const node = [Op.ArrayPath, typeof from == 'string' ? pathNode(from) : compile(from, join(at, 0))]
        if (isObj(shape) && Object.keys(shape).length) {
          const item = compile(shape, join(at, 1))
          // The item must read as present, even when it is a falsy literal.
          node.push(typeof item == 'object' && item ? item : [Op.Literal, item])
        }
        return node
      }
      case '@json': {
        if (!o.mode || !o.value) return refuse()
        const value = option('value')
        if (o.mode === 'encode') return [Op.Json, value, 1]
        // An unknown mode gives undefined, once the value is evaluated: an @if with no branches.
        return o.mode === 'decode' ? [Op.Json, value] : [Op.If, value]
      }
      case '@flatten': {
        const separator = o.separator
        if (!separator) return refuse()
        if (isFixed(separator) && typeof separator != 'string') return [Op.Fail, invalid(separator)]
        // The text, for a separator known only while running.
        const node = [
          Op.Flatten,
          option('separator'),
          typeof separator == 'string' ? 0 : invalid(),
          option('value'),
        ]
        if (o.omitArrays) node.push(1)
        return node
      }
      case '@merge': {
        if (!o.direction || !isArray(o.objects)) return refuse()
        const objects = join(at, 'objects')
        return [
          Op.Merge,
          option('direction'),
          ...Array.from(o.objects as unknown[], (item, index) => compile(item, join(objects, index))),
        ]
      }
      default:
        return [
          Op.Fail,
          text(
            path,
            `${name} ${name == '@liquid' || name == '@transform' ? 'is not supported' : 'is not a mapping directive'}`,
            arg,
          ),
        ]
    }
  }

  return { program: compile(fields, '') as MappingProgram, texts }
}
