// Evaluates Segment's mapping directives against one event, giving what Segment's own mapping-kit
// `transform` gives. This is the browser hot path, written for size and speed: no dependencies; each
// mapping is compiled once into closures (paths split, regular expressions built) and cached; nothing
// is checked per call beyond what evaluation needs (checkMapping lists problems up front, in detail).
// A directive that cannot be evaluated throws a MappingError naming it and its path in the mapping,
// when it is evaluated, as Segment's does.
import { describeValue, MappingError } from '../errors'

type Obj = Record<string, unknown>
type Compiled = (data: unknown) => unknown

const hasOwn = Object.prototype.hasOwnProperty
const toTag = Object.prototype.toString

/** A plain object the way Segment counts one (its tag is "Object"); arrays, dates and null are not. */
const isObj = (value: unknown): value is Obj =>
  typeof value == 'object' && value !== null && toTag.call(value) == '[object Object]'

/** Writes own keys only: a key named `__proto__` (from data or from the mapping) is dropped. */
const put = (target: Obj, key: string, value: unknown): void => {
  if (key != '__proto__') target[key] = value
}

const splitPaths = new Map<string, string[]>()

/**
 * Splits a path as Segment does: on `.`, on `[` before a quote or digit, on `]`s after a quote or
 * digit; empty parts dropped, quotes removed (`a[0]`, `a["b"]` and `a.0` all work).
 */
function split(path: string): string[] {
  let keys = splitPaths.get(path)
  if (!keys) {
    keys = path
      .replace(/(["'\d])\]+/g, '$1.')
      .replace(/\[(?=["'\d])/g, '.')
      .split('.')
      .filter(Boolean)
      .map((key) => key.replace(/["']/g, ''))
    if (splitPaths.size > 500) splitPaths.clear()
    splitPaths.set(path, keys)
  }
  return keys
}

/**
 * Reads split path `keys`. Like Segment, a falsy value part-way (`null`, `0`, `""`) is returned as it
 * is. Unlike Segment, only own properties are read: `$.constructor` is undefined, not a function.
 */
function get(data: unknown, keys: string[]): unknown {
  for (const key of keys) data = data && (hasOwn.call(data, key) ? (data as Obj)[key] : undefined)
  return data
}

/** `{{path}}` and `{{{path}}}` placeholders (paths without `$.`), in Segment's two passes. */
function render(template: string, data: unknown): string {
  const scope = data === undefined ? {} : data
  const fill = (_match: string, path: string) => {
    const value = get(scope, split(path.trim()))
    return value == null ? '' : String(value)
  }
  return template.replace(/\{\{\{([^}]+)\}\}\}/g, fill).replace(/\{\{([^}]+)\}\}/g, fill)
}

/** The mapping being applied, to name the path of a directive that fails. */
let root: unknown

/** Throws the MappingError of a directive that cannot be evaluated, with its path in the mapping. */
function fail(
  node: Obj,
  name: string,
  received: unknown = node[name],
  text = 'has an invalid argument',
): never {
  throw new MappingError('Cannot apply the mapping', [
    { path: locate(root, node, '') || '', message: `${name} ${text} (Received: ${describeValue(received)})` },
  ])
}

function compile(mapping: unknown): Compiled {
  if (Array.isArray(mapping)) {
    const items = mapping.map(compile)
    return (data) => items.map((item) => item(data))
  }
  if (!isObj(mapping)) return () => mapping
  const keys = Object.keys(mapping)
  let directive: string | undefined
  let plain: unknown
  for (const key of keys) {
    if (key[0] == '@') directive = directive || key
    else plain = plain || key != '_metadata'
  }
  // Like Segment, an object mixing @-keys with other keys is plain data (checkMapping reports it).
  if (directive && !plain) return compileDirective(mapping, directive)
  const fields = keys.map((key) => [key, compile(mapping[key])] as const)
  return (data) => {
    const out: Obj = {}
    for (const [key, field] of fields) put(out, key, field(data))
    return out
  }
}

/**
 * One directive. What depends only on the mapping is decided here; a directive Segment would refuse
 * on evaluation compiles to a function that throws, so it fails only if it is evaluated.
 */
function compileDirective(node: Obj, name: string): Compiled {
  const arg = node[name]
  // The options object of the directives that take one; anything else reads as no options.
  const o: Obj = isObj(arg) ? arg : {}
  const refuse = (): Compiled => () => fail(node, name)
  const nothing = () => undefined

  switch (name) {
    case '@path':
    case '@template': {
      if (name == '@path' && typeof arg == 'string') {
        const keys = split(arg.replace('$.', ''))
        return (data) => get(data, keys)
      }
      const text = compile(arg)
      return (data) => {
        const value = text(data)
        if (typeof value != 'string') return fail(node, name, value, 'needs a string')
        return name == '@path' ? get(data, split(value.replace('$.', ''))) : render(value, data)
      }
    }
    case '@literal':
      return compile(arg)
    case '@if': {
      if (!o.exists && !o.blank) return refuse()
      const byExists = o.exists !== undefined
      const condition = compile(byExists ? o.exists : o.blank)
      const then = o.then === undefined ? nothing : compile(o.then)
      const otherwise = o.else ? compile(o.else) : nothing
      return (data) => {
        const value = condition(data)
        return value != null && (byExists || value != '') ? then(data) : otherwise(data)
      }
    }
    case '@excludeWhenNull': {
      const inner = compile(arg)
      return (data) => {
        const value = inner(data)
        return value === null ? undefined : copy(value, true)
      }
    }
    case '@case': {
      if (!o.operator) return refuse()
      if (!o.value) return nothing
      const inner = compile(o.value)
      return (data) => {
        const value = inner(data)
        if (typeof value != 'string') return value
        if (o.operator === 'lower') return value.toLowerCase()
        return o.operator === 'upper' ? value.toUpperCase() : fail(node, name)
      }
    }
    case '@replace': {
      if (!o.pattern) return refuse()
      if (!o.value) return nothing
      const inner = compile(o.value)
      const { pattern, pattern2 } = o
      // Segment's defaults, for null as for undefined.
      const global = o.global == null || o.global
      const ignoreCase = o.ignorecase != null && o.ignorecase
      const by = o.replacement == null ? '' : o.replacement
      const by2 = o.replacement2 == null ? '' : o.replacement2
      const usable =
        typeof pattern == 'string' &&
        typeof by == 'string' &&
        typeof global == 'boolean' &&
        typeof ignoreCase == 'boolean'
      // Segment refuses patterns and replacements over 10 characters, but only when it gets to use them.
      const regex = (find: string, replacement: string) =>
        find.length > 10 || replacement.length > 10
          ? undefined
          : new RegExp(
              find.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
              (global ? 'g' : '') + (ignoreCase ? 'i' : ''),
            )
      const first = usable ? regex(pattern, by) : undefined
      const hasSecond = usable && !!pattern2 && typeof pattern2 == 'string' && typeof by2 == 'string'
      const second = hasSecond ? regex(pattern2, by2) : undefined
      return (data) => {
        let value = inner(data)
        if (typeof value == 'boolean' || typeof value == 'number') value = String(value)
        if (!usable || typeof value != 'string') return ''
        if (!first || (hasSecond && !second)) return fail(node, name)
        value = value.replace(first, by)
        return second ? (value as string).replace(second, by2 as string) : value
      }
    }
    case '@arrayPath': {
      if (!Array.isArray(arg)) return refuse()
      const [path, shape] = arg as unknown[]
      const from = typeof path == 'string' ? compile({ '@path': path }) : compile(path)
      const item = isObj(shape) && Object.keys(shape).length ? compile(shape) : undefined
      return (data) => {
        const value = from(data)
        return item && (isObj(value) || Array.isArray(value)) ? [value].flat().map((one) => item(one)) : value
      }
    }
    case '@json': {
      if (!o.mode || !o.value) return refuse()
      const inner = compile(o.value)
      return (data) => {
        const value = inner(data)
        if (o.mode === 'encode') return JSON.stringify(value)
        if (o.mode !== 'decode') return undefined
        try {
          return typeof value == 'string' ? JSON.parse(value) : value
        } catch {
          return value
        }
      }
    }
    case '@flatten': {
      if (!o.separator) return refuse()
      const separatorOf = compile(o.separator)
      const inner = compile(o.value)
      return (data) => {
        const separator = separatorOf(data)
        if (typeof separator != 'string') return fail(node, name, separator)
        const out: Obj = {}
        const flatten = (value: unknown, prefix: string): void => {
          if (isObj(value) || (!o.omitArrays && Array.isArray(value))) {
            for (const [key, item] of Object.entries(value))
              flatten(item, prefix ? prefix + separator + key : key)
          } else put(out, prefix, value)
        }
        flatten(inner(data), '')
        return out
      }
    }
    case '@merge': {
      if (!o.direction || !Array.isArray(o.objects)) return refuse()
      const directionOf = compile(o.direction)
      const objects = o.objects.map(compile)
      return (data) => {
        const left = directionOf(data) === 'left'
        const values = objects.map((object) => object(data))
        if (left) values.reverse()
        const out: Obj = {}
        for (const value of values)
          for (const key of Object.keys(Object(value))) put(out, key, (value as Obj)[key])
        return out
      }
    }
    default:
      return () =>
        fail(
          node,
          name,
          arg,
          name == '@liquid' || name == '@transform' ? 'is not supported' : 'is not a mapping directive',
        )
  }
}

/**
 * A deep copy of plain objects. `nulls`: Segment's `@excludeWhenNull` (null values become undefined,
 * arrays are not entered); otherwise its final pass (undefined values dropped, arrays entered).
 */
function copy(value: unknown, nulls?: boolean): unknown {
  if (Array.isArray(value)) return nulls ? value : value.map((item) => copy(item))
  if (!isObj(value)) return value
  const out: Obj = {}
  for (const key of Object.keys(value)) {
    const item = value[key]
    if (nulls) put(out, key, item === null ? undefined : copy(item, nulls))
    else if (item !== undefined) put(out, key, copy(item))
  }
  return out
}

/** The dotted path of `node` inside `mapping`, for error messages. */
function locate(mapping: unknown, node: object, path: string): string | undefined {
  if (mapping === node) return path
  if (typeof mapping == 'object' && mapping) {
    for (const key of Object.keys(mapping)) {
      const found = locate((mapping as Obj)[key], node, path ? `${path}.${key}` : key)
      if (found != null) return found
    }
  }
  return undefined
}

const compiled = new WeakMap<object, Compiled>()

/**
 * Applies a field mapping (`{ field: value-or-directive }`) to an event, as Segment's `transform` does:
 * directives evaluated, undefined results dropped, the result a fresh copy. Throws MappingError when a
 * directive cannot be evaluated; run `checkMapping` once beforehand to list every problem up front.
 * The mapping is compiled on first use and cached by identity: treat it as immutable afterwards.
 */
export function applyMapping(mapping: unknown, event: object): Record<string, unknown> {
  const eventOk = isObj(event)
  if (!eventOk || !isObj(mapping) || Object.keys(mapping).some((key) => key[0] == '@')) {
    throw new MappingError(
      eventOk
        ? `A mapping must be an object of fields (Received: ${describeValue(mapping)})`
        : `The event must be an object (Received: ${describeValue(event)})`,
    )
  }
  root = mapping
  try {
    let evaluate = compiled.get(mapping)
    if (!evaluate) compiled.set(mapping, (evaluate = compile(mapping)))
    return copy(evaluate(event)) as Obj
  } catch (error) {
    // Ours, or what the engine throws for odd input (a cycle, a BigInt in @json, a value without a string form).
    throw error instanceof MappingError
      ? error
      : new MappingError(`Cannot apply the mapping: ${String(error)}`)
  }
}
