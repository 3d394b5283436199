// "Test mapping": one mapping and one example event in, the mapped payload (or every problem) out.
// Core's parser checks the mapping as the proxy would at start-up; the trigger, the field mapping and
// the payload check are the ones the plugin runs on every event.
import {
  applyMapping,
  checkPayload,
  matchesTrigger,
  MappingError,
  RelayError,
  parseMappingSet,
  type ActionKey,
  type FieldIssue,
} from '@qualtrics-relay/core'

export type TestResult =
  | { kind: 'json-error'; input: 'mapping' | 'event'; message: string }
  | { kind: 'mapping-error'; issues: FieldIssue[] }
  | { kind: 'no-match'; trigger: string }
  | {
      kind: 'mapped'
      action: ActionKey
      trigger: string
      /** The fields as the mapping produced them. */
      mapped: Record<string, unknown>
      /** The normalised payload the plugin would send; absent when the payload check failed. */
      payload?: Record<string, unknown>
      issues: FieldIssue[]
    }

function parseJson(text: string, input: 'mapping' | 'event'): { value: unknown } | TestResult {
  try {
    return { value: JSON.parse(text) as unknown }
  } catch (error) {
    return { kind: 'json-error', input, message: error instanceof Error ? error.message : String(error) }
  }
}

export function testMapping(
  mappingText: string,
  eventText: string,
  options: { workflowOrigins?: readonly string[]; now?: () => number } = {},
): TestResult {
  const mapping = parseJson(mappingText, 'mapping')
  if (!('value' in mapping)) return mapping
  const event = parseJson(eventText, 'event')
  if (!('value' in event)) return event
  if (typeof event.value !== 'object' || event.value === null || Array.isArray(event.value)) {
    return { kind: 'json-error', input: 'event', message: 'The event must be a JSON object' }
  }

  let spec
  try {
    ;[spec] = parseMappingSet([mapping.value], 'mapping')
  } catch (error) {
    if (error instanceof MappingError) {
      return {
        kind: 'mapping-error',
        issues: error.issues.map((i) => ({
          ...i,
          path: i.path.replace(/^mapping\.0\.?/, '') || '(mapping)',
        })),
      }
    }
    throw error
  }
  if (spec === undefined) {
    // parseMappingSet leaves out a mapping with "enabled": false
    return { kind: 'mapping-error', issues: [{ path: 'enabled', message: 'is false: the mapping is off' }] }
  }
  if (!matchesTrigger(spec.trigger, event.value)) return { kind: 'no-match', trigger: spec.triggerText }

  let mapped: Record<string, unknown>
  try {
    mapped = applyMapping(spec.fields, event.value)
  } catch (error) {
    const message = error instanceof RelayError ? error.message : String(error)
    return { kind: 'mapping-error', issues: [{ path: 'fields', message }] }
  }
  const checked = checkPayload(spec.action, mapped, {
    ...(options.workflowOrigins ? { workflowOrigins: options.workflowOrigins } : {}),
    ...(options.now ? { now: options.now } : {}),
  })
  const result: TestResult = {
    kind: 'mapped',
    action: spec.action,
    trigger: spec.triggerText,
    mapped,
    issues: checked.issues,
  }
  if (checked.payload) result.payload = checked.payload as unknown as Record<string, unknown>
  return result
}
