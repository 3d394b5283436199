// Evaluates Segment's mapping directives against one event, giving what Segment's own mapping-kit
// `transform` gives: the mapping is compiled once (compileMapping, cached by identity) and the program
// run (runMapping). A directive that cannot be evaluated throws a MappingError naming it and its path
// in the mapping, when it is evaluated, as Segment's does.
import { describeValue, MappingError, RelayError } from '../errors'
import { isPlainObject } from '../is-plain-object'
import { compileWithTexts, type ProgramTexts } from './compile-mapping'
import { runMapping, type MappingProgram } from './run-mapping'

const isObj = isPlainObject

const compiled = new WeakMap<object, { program: MappingProgram; texts: ProgramTexts }>()

/**
 * Applies a field mapping (`{ field: value-or-directive }`) to an event, as Segment's `transform` does:
 * directives evaluated, undefined results dropped, the result a fresh copy. Throws MappingError when a
 * directive cannot be evaluated; run `checkMapping` once beforehand to list every problem up front.
 * The mapping is compiled on first use and cached by identity: treat it as immutable afterwards.
 */
export function applyMapping(mapping: unknown, event: object): Record<string, unknown> {
  if (!isObj(mapping) || Object.keys(mapping).some((key) => key[0] == '@')) {
    throw new MappingError(`A mapping must be an object of fields (Received: ${describeValue(mapping)})`)
  }
  let entry = compiled.get(mapping)
  // runMapping refuses an event that is not a plain object, as Segment does: one check, one message.
  try {
    if (!entry) compiled.set(mapping, (entry = compileWithTexts(mapping)))
    return runMapping(entry.program, event)
  } catch (error) {
    throw asMappingError(error, entry ? entry.texts : [])
  }
}

/**
 * The MappingError an error of compileMapping or runMapping stands for: a directive's failure with its
 * issue (the text the program threw, matched to where the compiler wrote it), or an engine error (a
 * cycle in the mapping or the event, a BigInt in @json) with its message.
 */
function asMappingError(error: unknown, texts: ProgramTexts): MappingError {
  if (error instanceof MappingError) return error
  if (!(error instanceof RelayError)) return new MappingError(`Cannot apply the mapping: ${String(error)}`)
  const { message } = error
  let found: ProgramTexts[number] | undefined
  for (const entry of texts) {
    if (message.startsWith(entry[0]) && (!found || entry[0].length > found[0].length)) found = entry
  }
  if (!found) return new MappingError(message)
  const [text, issue] = found
  return new MappingError('Cannot apply the mapping', [
    { path: issue.path, message: issue.message + message.slice(text.length) },
  ])
}
