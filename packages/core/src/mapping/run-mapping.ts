// Runs a mapping program (compileMapping's output) against one event: the browser's hot path. Everything
// that depends only on the mapping was decided by the compiler, on the proxy; this only walks the
// program, and gives what Segment's mapping-kit `transform` gives for the mapping.
//
// A program is JSON. A program value is one of:
//   a string, number, boolean or null    itself (a literal)
//   { key: value, … }                    an object of values (`__proto__` is never written)
//   [op, …]                              a node (op numbers: enum Op below):
//     0  Literal      [0, v?]                 v as it is, not evaluated; [0] is undefined
//     1  Path         [1, key, …]             @path with a fixed path: the keys, read from the event
//     2  PathOf       [2, v, text?]           @path with the path v gives
//     3  Template     [3, v, text?]           @template with the template v gives
//     4  Flatten      [4, sep, text?, v, omitArrays?]   @flatten of v, joining keys with what sep gives
//     5  If           [5, c, blank?, then?, else?]      @if: `then` if c gives a value that exists
//                                             (blank = 1: and is not blank), else `else`
//     6  ExcludeNull  [6, v]                  @excludeWhenNull
//     7  Case         [7, v, m]               @case: string method m ("toLowerCase") on strings
//     8  Replace      [8, v, [source, by, flags]]    @replace of one pattern (a second pattern is a
//                                             Replace node around the first)
//     9  ArrayPath    [9, v, item?]           @arrayPath: item evaluated against each element v gives
//     10 Json         [10, v, encode?]        @json: decode, or encode when the third element is 1
//     11 Merge        [11, direction, v, …]   @merge of what the v's give
//     12 Array        [12, v, …]              an array of values
//     13 Fail         [13, text]              a directive that fails whenever it is evaluated
// A text is an error message written by the compiler (with the directive's path in the mapping), so
// none ships to browsers. Nodes 2-4 carry the start of one, up to "(Received: ", for a first element
// that gives no string; Case and Replace carry a whole one in place of m or [source, …] when Segment
// would fail on a string value. Absent elements read as undefined.
import { describeValue, RelayError } from '../errors'
import { isPlainObject } from '../is-plain-object'

/** A compiled field mapping: plain JSON (see compile-mapping.ts and the node forms above). */
export type MappingProgram = { [field: string]: ProgramValue }
export type ProgramValue =
  string | number | boolean | null | readonly ProgramValue[] | { [key: string]: ProgramValue }

/** Node opcodes: numbers keep programs short (esbuild inlines enum members). */
export enum Op {
  Literal,
  Path,
  // The three whose first element must give a string.
  PathOf,
  Template,
  Flatten,
  If,
  ExcludeNull,
  Case,
  Replace,
  ArrayPath,
  Json,
  Merge,
  Array,
  Fail,
}

type Obj = Record<string, unknown>
// The interpreter trusts the compiler's node shapes; typing each element would only add casts.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Node = any

const hasOwn = Object.prototype.hasOwnProperty
const isArray = Array.isArray
const keys = Object.keys
const isString = (value: unknown): boolean => typeof value == 'string'

const isObj: (value: unknown) => value is Obj = isPlainObject

/** Writes own keys only: a key named `__proto__` is dropped. */
const put = (target: Obj, key: string, value: unknown): void => {
  if (key != '__proto__') target[key] = value
}

// Failures are thrown as their text (only ever to runMapping, which makes it a RelayError).
function fail(text: string): never {
  throw text
}

/** Reads the keys of `path` from index `i` on. A falsy value part-way is returned as it is (Segment's quirk). */
const get = (data: Node, path: Node, i: number): unknown => {
  for (; i < path.length; i++) data = data && (hasOwn.call(data, path[i]) ? data[path[i]] : undefined)
  return data
}

/**
 * Splits a path as Segment does: `]`s after a quote or digit and `[` before one become dots, then on
 * dots, empty keys dropped, quotes removed (`a[0]`, `a["b"]` and `a.0` all work).
 */
export const split = (path: string): string[] =>
  path
    .replace(/(["'\d])]+|\[(?=["'\d])/g, '$1.')
    .split('.')
    .filter(Boolean)
    .map((key) => key.replace(/["']/g, ''))

const memos = new Map<unknown, Node>()

/** `make()`, remembered under `key` (500 at most): run-time paths split once, patterns built once. */
const memo = (key: unknown, make: () => Node): Node => {
  let value = memos.get(key)
  if (!value) {
    if (memos.size > 500) memos.clear()
    memos.set(key, (value = make()))
  }
  return value
}

/** A path read at run time, split (memoised). */
const keysOf = (path: string): string[] => memo(path, () => split(path))

/** The regular expression of a Replace node's `[source, by, flags]` (memoised). */
const regexOf = (p: string[]): RegExp => memo(p, () => RegExp(p[0] as string, p[2]))

/** `{{path}}` and `{{{path}}}` placeholders (paths without `$.`), in Segment's two passes. */
const render = (template: string, data: unknown): string => {
  const scope = data === undefined ? {} : data
  const fill = (_match: string, path: string) => {
    const value = get(scope, keysOf(path.trim()), 0)
    return value == null ? '' : String(value)
  }
  return template.replace(/{{{([^}]+)}}}/g, fill).replace(/{{([^}]+)}}/g, fill)
}

/**
 * A deep copy of plain objects. `nulls`: Segment's `@excludeWhenNull` (null values become undefined,
 * arrays are not entered); otherwise its final pass (undefined values dropped, arrays entered).
 */
const copy = (value: Node, nulls?: 1): unknown => {
  if (isArray(value)) return nulls ? value : value.map((item) => copy(item))
  if (!isObj(value)) return value
  const out: Obj = {}
  for (const key of keys(value)) {
    const item = value[key]
    if (nulls) put(out, key, item === null ? undefined : copy(item, nulls))
    else if (item !== undefined) put(out, key, copy(item))
  }
  return out
}

/** The results of the program values of node `n` from index `from` on. */
const all = (n: Node, from: number, data: unknown): Node[] =>
  n.slice(from).map((item: Node) => run(item, data))

function run(n: Node, data: Node): Node {
  if (typeof n != 'object' || !n) return n
  let out: Obj
  if (!isArray(n)) {
    out = {}
    // for-in (faster here than Object.keys): a program's objects are plain JSON objects.
    for (const key in n) put(out, key, run(n[key], data))
    return out
  }
  const op = n[0]
  if (op == Op.Path) return get(data, n, 1)
  if (!op) return n[1]
  if (op == Op.Array) return all(n, 1, data)
  const p = n[2]
  // Every other node evaluates its first element first; for three of them it must give a string.
  let value = run(n[1], data)
  if (op < Op.If && !isString(value)) {
    fail(p + describeValue(value) + ')')
  }
  switch (op) {
    case Op.PathOf:
      return get(data, keysOf(value.replace('$.', '')), 0)
    case Op.Template:
      return render(value, data)
    case Op.Flatten: {
      out = {}
      const flatten = (item: Node, prefix: string): void => {
        if (isObj(item) || (!n[4] && isArray(item))) {
          for (const [key, inner] of Object.entries(item)) flatten(inner, prefix ? prefix + value + key : key)
        } else put(out, prefix, item)
      }
      flatten(run(n[3], data), '')
      return out
    }
    case Op.If:
      return run(value != null && (!p || value != '') ? n[3] : n[4], data)
    case Op.ExcludeNull:
      return value === null ? undefined : copy(value, 1)
    case Op.Case:
      // p: the method to call, or the text to throw (no string method has such a name).
      return !isString(value) ? value : value[p] ? value[p]() : fail(p)
    case Op.Replace:
      // Numbers and booleans are replaced in as strings.
      if (typeof value == 'number' || typeof value == 'boolean') value = String(value)
      if (!isString(value)) return ''
      return isString(p) ? fail(p) : value.replace(regexOf(p), p[1])
    case Op.ArrayPath:
      return p && (isObj(value) || isArray(value)) ? [value].flat().map((item) => run(p, item)) : value
    case Op.Json:
      if (p) return JSON.stringify(value)
      try {
        return isString(value) ? JSON.parse(value) : value
      } catch {
        return value
      }
    case Op.Merge: {
      out = {}
      const objects = all(n, 2, data)
      if (value === 'left') objects.reverse()
      for (const item of objects) for (const key of keys(Object(item))) put(out, key, item[key])
      return out
    }
    default: // Op.Fail
      return fail(value)
  }
}

/**
 * Runs a compiled mapping against an event: the fields' values, undefined ones dropped at every depth,
 * in fresh objects that share nothing with the event. Throws a RelayError (MAPPING_INVALID) when a
 * directive cannot be evaluated, with the message the compiler wrote for it.
 */
export function runMapping(program: MappingProgram, event: object): Record<string, unknown> {
  try {
    // As Segment's transform and applyMapping: an array, a string or null is no event.
    if (!isObj(event)) fail('The event must be an object (Received: ' + describeValue(event) + ')')
    return copy(run(program, event)) as Obj
  } catch (error: Node) {
    // A directive's failure (its text), or what the engine throws for odd input (a cycle, a BigInt in
    // @json, a value without a string form).
    throw new RelayError('MAPPING_INVALID', isString(error) ? error : 'Cannot apply the mapping: ' + error)
  }
}
