// Lists every problem of a field mapping up front, so a bad mapping is refused when the settings are
// loaded rather than on each event. It rejects everything Segment's mapping-kit `validate` rejects,
// and also what Segment only finds while evaluating (see docs/mapping.md, "What checkMapping adds").
import { describeValue, type FieldIssue } from '../errors'
import { isPlainObject } from '../is-plain-object'

type Obj = Record<string, unknown>

const isObj: (value: unknown) => value is Obj = isPlainObject

const join = (path: string, key: string | number): string => (path ? `${path}.${key}` : String(key))

/** Segment's key for a root-level `@transform`; its internals, not a mapping users write. */
const ROOT_DIRECTIVE_KEY = '__segment_internal_directive'
const MAX_PATTERN = 10

/** Lists every problem of a field mapping (`{ field: value-or-directive }`); empty when it is usable. */
export function checkMapping(mapping: unknown): FieldIssue[] {
  const issues: FieldIssue[] = []
  const report = (path: string, message: string, received: unknown): void => {
    issues.push({ path, message: `${message} (Received: ${describeValue(received)})` })
  }

  /** Any mapping value: a literal, an object or array of values, or a directive. */
  const value = (input: unknown, path: string): void => {
    if (Array.isArray(input)) input.forEach((item, index) => value(item, join(path, index)))
    else if (isObj(input)) {
      if (Object.keys(input).some((key) => key[0] === '@')) directive(input, path)
      else for (const key of Object.keys(input)) value(input[key], join(path, key))
    }
  }

  /** A JSON value or a directive, where Segment refuses `undefined`, functions, dates and the like. */
  const jsonValue = (input: unknown, path: string): void => {
    const type = typeof input
    if (input === null || type === 'string' || type === 'number' || type === 'boolean') return
    if (Array.isArray(input) || isObj(input)) value(input, path)
    else report(path, 'must be a JSON value or a directive', input)
  }

  const stringOrDirective = (input: unknown, path: string): void => {
    if (typeof input === 'string') return
    if (isObj(input) && Object.keys(input).some((key) => key[0] === '@')) directive(input, path)
    else report(path, 'must be a string or a directive', input)
  }

  const string = (min: number, max: number) => (input: unknown, path: string) => {
    if (typeof input !== 'string' || input.length < min || input.length > max) {
      report(path, `must be a string of ${min} to ${max} characters`, input)
    }
  }

  const oneOf =
    (...allowed: string[]) =>
    (input: unknown, path: string) => {
      if (typeof input !== 'string' || !allowed.includes(input)) {
        report(path, `must be ${allowed.map((item) => JSON.stringify(item)).join(' or ')}`, input)
      }
    }

  const nonEmptyString = (input: unknown, path: string): void => {
    if (typeof input !== 'string' || !input) report(path, 'must be a non-empty string', input)
  }

  /** The options object of a directive; `undefined` (after a report) when it is not one. */
  const options = (input: unknown, path: string): Obj | undefined => {
    if (isObj(input) && !Object.keys(input).some((key) => key[0] === '@')) return input
    report(path, 'must be an object of options', input)
    return undefined
  }

  const required = (
    opts: Obj,
    key: string,
    path: string,
    check: (input: unknown, at: string) => void,
  ): void => {
    if (opts[key] === undefined) report(join(path, key), 'is required', undefined)
    else check(opts[key], join(path, key))
  }

  const optional = (
    opts: Obj,
    key: string,
    path: string,
    check: (input: unknown, at: string) => void,
  ): void => {
    if (opts[key] !== undefined) check(opts[key], join(path, key))
  }

  const boolean = (input: unknown, path: string): void => {
    if (typeof input !== 'boolean') report(path, 'must be true or false', input)
  }

  const directive = (node: Obj, path: string): void => {
    const keys = Object.keys(node)
    const names = keys.filter((key) => key[0] === '@')
    const others = keys.filter((key) => key[0] !== '@' && key !== '_metadata')
    if (names.length > 1 || others.length) {
      report(path, 'must hold exactly one directive and no other keys', node)
      return
    }
    const name = names[0] as string
    const arg = node[name]
    const at = join(path, name)
    let opts: Obj | undefined
    switch (name) {
      case '@path':
      case '@template':
        stringOrDirective(arg, at)
        break
      case '@literal':
      case '@excludeWhenNull':
        jsonValue(arg, at)
        break
      case '@if':
        if (!(opts = options(arg, at))) break
        for (const key of ['exists', 'blank', 'then', 'else']) optional(opts, key, at, jsonValue)
        if (!opts.exists && !opts.blank) report(at, 'needs an "exists" or a "blank" condition', arg)
        break
      case '@case':
        if (!(opts = options(arg, at))) break
        required(opts, 'operator', at, oneOf('lower', 'upper'))
        optional(opts, 'value', at, stringOrDirective)
        break
      case '@replace':
        if (!(opts = options(arg, at))) break
        required(opts, 'pattern', at, string(1, MAX_PATTERN))
        optional(opts, 'replacement', at, string(0, MAX_PATTERN))
        optional(opts, 'pattern2', at, string(1, MAX_PATTERN))
        optional(opts, 'replacement2', at, string(0, MAX_PATTERN))
        required(opts, 'value', at, stringOrDirective)
        optional(opts, 'ignorecase', at, boolean)
        optional(opts, 'global', at, boolean)
        break
      case '@arrayPath':
        if (!Array.isArray(arg)) {
          report(at, 'must be an array [path, item mapping]', arg)
          break
        }
        stringOrDirective(arg[0], join(at, 0))
        value(arg[1], join(at, 1))
        break
      case '@json':
        if (!(opts = options(arg, at))) break
        required(opts, 'mode', at, oneOf('encode', 'decode'))
        required(opts, 'value', at, jsonValue)
        if (opts.value !== undefined && !opts.value)
          report(join(at, 'value'), 'must not be null, "", 0 or false', opts.value)
        break
      case '@flatten':
        if (!(opts = options(arg, at))) break
        required(opts, 'separator', at, nonEmptyString)
        required(opts, 'value', at, jsonValue)
        break
      case '@merge':
        if (!(opts = options(arg, at))) break
        required(opts, 'direction', at, oneOf('left', 'right'))
        required(opts, 'objects', at, (input, where) => {
          if (!Array.isArray(input)) report(where, 'must be an array of objects or directives', input)
          else {
            input.forEach((item, index) => {
              if (isObj(item)) value(item, join(where, index))
              else report(join(where, index), 'must be an object or a directive', item)
            })
          }
        })
        break
      case '@liquid':
      case '@transform':
        report(path, `uses ${name}, which is not supported`, arg)
        break
      default:
        report(path, `uses ${JSON.stringify(name)}, which is not a mapping directive`, arg)
    }
  }

  if (!isObj(mapping)) {
    report('', 'must be an object of fields', mapping)
  } else if (Object.keys(mapping).some((key) => key[0] === '@')) {
    report('', 'must be an object of fields, not a directive', mapping)
  } else {
    for (const key of Object.keys(mapping)) {
      if (key === ROOT_DIRECTIVE_KEY)
        report(key, "is Segment's internal root directive, which is not supported", mapping[key])
      else value(mapping[key], key)
    }
  }
  return issues
}
