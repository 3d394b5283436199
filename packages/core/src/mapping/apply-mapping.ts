// Evaluates Segment's mapping directives against one event, giving what Segment's own mapping-kit
// `transform` gives. This is the browser hot path, so it is written for size: no dependencies, no
// checking of the whole mapping per call (checkMapping does that once, up front, with detailed
// messages). A directive that cannot be evaluated throws a MappingError naming the directive and
// where it sits in the mapping.
import { describeValue, MappingError } from '../errors'

type Obj = Record<string, unknown>

const hasOwn = Object.prototype.hasOwnProperty
const toTag = Object.prototype.toString

/** A plain object the way Segment counts one (its tag is "Object"); arrays, dates and null are not. */
const isObj = (value: unknown): value is Obj =>
  typeof value == 'object' && value !== null && toTag.call(value) == '[object Object]'

/** Writes own keys only: a key named `__proto__` (from data or from the mapping) is dropped. */
const put = (target: Obj, key: string, value: unknown): void => {
  if (key != '__proto__') target[key] = value
}

/** The mapping being applied, to name the path of a directive that fails. */
let root: unknown

const parsedPaths = new Map<string, string[]>()

/**
 * Reads a path split the way Segment splits it: on `.`, on `[` before a quote or digit, on `]`s after
 * a quote or digit; empty parts dropped, quotes removed (`a[0]`, `a["b"]` and `a.0` all work). Like
 * Segment, a falsy value part-way (`null`, `0`, `""`) is returned as it is. Unlike Segment, only own
 * properties are read: `$.constructor` is undefined, not a function.
 */
function get(data: unknown, path: string): unknown {
  let keys = parsedPaths.get(path)
  if (!keys) {
    keys = path
      .replace(/(["'\d])\]+/g, '$1.')
      .replace(/\[(?=["'\d])/g, '.')
      .split('.')
      .filter(Boolean)
      .map((key) => key.replace(/["']/g, ''))
    if (parsedPaths.size > 500) parsedPaths.clear()
    parsedPaths.set(path, keys)
  }
  for (const key of keys) data = data && (hasOwn.call(data, key) ? (data as Obj)[key] : undefined)
  return data
}

function resolve(mapping: unknown, data: unknown): unknown {
  if (Array.isArray(mapping)) return mapping.map((item) => resolve(item, data))
  if (!isObj(mapping)) return mapping
  const keys = Object.keys(mapping)
  let directive: string | undefined
  let plain: unknown
  for (const key of keys) {
    if (key[0] == '@') directive ??= key
    else plain ||= key != '_metadata'
  }
  // Like Segment, an object mixing @-keys with other keys is plain data (checkMapping reports it).
  if (directive && !plain) return run(mapping, directive, data)
  const out: Obj = {}
  for (const key of keys) put(out, key, resolve(mapping[key], data))
  return out
}

/** Throws the MappingError of a directive that cannot be evaluated, with its path in the mapping. */
function fail(node: Obj, name: string, received: unknown = node[name], text = 'has an invalid argument'): never {
  throw new MappingError('Cannot apply the mapping', [
    { path: locate(root, node, '') ?? '', message: `${name} ${text} (Received: ${describeValue(received)})` },
  ])
}

function run(node: Obj, name: string, data: unknown): unknown {
  const arg = node[name]
  // The options object of the directives that take one; `undefined` reads as a missing option.
  const o = isObj(arg) ? arg : undefined
  let value: unknown

  switch (name) {
    case '@path':
    case '@template':
      value = resolve(arg, data)
      if (typeof value != 'string') return fail(node, name, value, 'needs a string')
      if (name == '@path') return get(data, value.replace('$.', ''))
      {
        const scope = data === undefined ? {} : data
        const fill = (_match: string, path: string) => String(get(scope, path.trim()) ?? '')
        return value.replace(/\{\{\{([^}]+)\}\}\}/g, fill).replace(/\{\{([^}]+)\}\}/g, fill)
      }
    case '@literal':
      return resolve(arg, data)
    case '@if': {
      if (!o?.exists && !o?.blank) return fail(node, name)
      let met = o.exists !== undefined
      if (met) met = resolve(o.exists, data) != null
      else met = (value = resolve(o.blank, data)) != null && value != ''
      return met ? (o.then === undefined ? undefined : resolve(o.then, data)) : o.else ? resolve(o.else, data) : undefined
    }
    case '@excludeWhenNull':
      value = resolve(arg, data)
      return value === null ? undefined : copy(value, true)
    case '@case':
      if (!o?.operator) return fail(node, name)
      if (!o.value) return undefined
      value = resolve(o.value, data)
      if (typeof value != 'string') return value
      return o.operator === 'lower'
        ? value.toLowerCase()
        : o.operator === 'upper'
          ? value.toUpperCase()
          : fail(node, name)
    case '@replace': {
      if (!o?.pattern) return fail(node, name)
      if (!o.value) return undefined
      value = resolve(o.value, data)
      if (typeof value == 'boolean' || typeof value == 'number') value = String(value)
      const global = o.global ?? true
      const ignoreCase = o.ignorecase ?? false
      const by = o.replacement ?? ''
      const by2 = o.replacement2 ?? ''
      if (
        typeof value != 'string' ||
        typeof o.pattern != 'string' ||
        typeof by != 'string' ||
        typeof global != 'boolean' ||
        typeof ignoreCase != 'boolean'
      )
        return ''
      const swap = (input: string, pattern: string, replacement: string) =>
        pattern.length > 10 || replacement.length > 10
          ? fail(node, name)
          : input.replace(
              new RegExp(
                pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
                (global ? 'g' : '') + (ignoreCase ? 'i' : ''),
              ),
              replacement,
            )
      value = swap(value, o.pattern, by)
      return o.pattern2 && typeof o.pattern2 == 'string' && typeof by2 == 'string'
        ? swap(value as string, o.pattern2, by2)
        : value
    }
    case '@arrayPath': {
      if (!Array.isArray(arg)) return fail(node, name)
      const [path, shape] = arg as unknown[]
      value = typeof path == 'string' ? get(data, path.replace('$.', '')) : resolve(path, data)
      return (isObj(value) || Array.isArray(value)) && isObj(shape) && Object.keys(shape).length
        ? [value].flat().map((item) => resolve(shape, item))
        : value
    }
    case '@json':
      if (!o?.mode || !o.value) return fail(node, name)
      value = resolve(o.value, data)
      if (o.mode === 'encode') return JSON.stringify(value)
      if (o.mode !== 'decode') return undefined
      try {
        return typeof value == 'string' ? JSON.parse(value) : value
      } catch {
        return value
      }
    case '@flatten': {
      if (!o?.separator) return fail(node, name)
      const separator = resolve(o.separator, data)
      if (typeof separator != 'string') return fail(node, name, separator)
      const out: Obj = {}
      const flatten = (input: unknown, prefix: string): void => {
        if (isObj(input) || (!o.omitArrays && Array.isArray(input))) {
          for (const [key, item] of Object.entries(input))
            flatten(item, prefix ? prefix + separator + key : key)
        } else put(out, prefix, input)
      }
      flatten(resolve(o.value, data), '')
      return out
    }
    case '@merge': {
      if (!o?.direction) return fail(node, name)
      const direction = resolve(o.direction, data)
      if (!Array.isArray(o.objects)) return fail(node, name)
      const objects = o.objects.map((item) => resolve(item, data))
      if (direction === 'left') objects.reverse()
      const out: Obj = {}
      for (const object of objects)
        for (const key of Object.keys(Object(object))) put(out, key, (object as Obj)[key])
      return out
    }
    default:
      return fail(
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

/**
 * Applies a field mapping (`{ field: value-or-directive }`) to an event, as Segment's `transform` does:
 * directives evaluated, undefined results dropped, the result a fresh copy. Throws MappingError when a
 * directive cannot be evaluated. Run `checkMapping` once beforehand to list every problem up front.
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
    return copy(resolve(mapping, event)) as Obj
  } catch (error) {
    // Ours, or what the engine throws for odd data (a cycle, a BigInt in @json, a value without a string form).
    throw error instanceof MappingError
      ? error
      : new MappingError(`Cannot apply the mapping: ${String(error)}`)
  }
}
