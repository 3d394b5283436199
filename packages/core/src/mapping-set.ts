// A destination's mappings: each one action + one trigger + a field mapping. Parsed once (proxy start,
// node plugin construction, the playground) into MappingSpecs with pre-parsed triggers, which the
// browser receives and evaluates without the parser.
import { ACTIONS, isActionKey } from './actions/definitions'
import type { ActionKey } from './actions/payloads'
import { describeValue, MappingError, RelayError, type FieldIssue } from './errors'
import { checkMapping, compileMapping, type MappingProgram } from './mapping/index'
import { parseTrigger } from './trigger/index'
import type { TriggerNode } from './trigger/index'

export const MAX_MAPPINGS = 50

/** What a user writes (config file, plugin options). */
export interface MappingInput {
  /** Stable id; it is part of every idempotency key, so don't reuse one for a different mapping. */
  id: string
  name?: string
  action: ActionKey
  /** Segment subscription text; defaults to the action's default trigger. */
  trigger?: string
  /** Field mappings; merged over the action's defaults. `null` removes a default. */
  fields?: Record<string, unknown>
  enabled?: boolean
}

/** A parsed, enabled mapping: safe to serve to browsers (no secrets, trigger pre-parsed). */
export interface MappingSpec {
  id: string
  name: string
  action: ActionKey
  trigger: TriggerNode
  triggerText: string
  fields: Record<string, unknown>
  /** `fields` compiled (compileMapping): what the browser runs (runMapping), without the compiler. */
  program: MappingProgram
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/
const KEYS = new Set(['id', 'name', 'action', 'trigger', 'fields', 'enabled'])

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** Parses and checks a mapping set; throws one MappingError listing every problem. */
export function parseMappingSet(input: unknown, path = 'mappings'): MappingSpec[] {
  const issues: FieldIssue[] = []
  const specs: MappingSpec[] = []
  if (!Array.isArray(input)) {
    throw new MappingError('Invalid mappings', [
      { path, message: `must be an array (Received: ${describeValue(input)})` },
    ])
  }
  if (input.length > MAX_MAPPINGS) {
    issues.push({ path, message: `has ${input.length} mappings; at most ${MAX_MAPPINGS} are allowed` })
  }
  const seen = new Set<string>()
  input.forEach((raw, index) => {
    const spec = parseOne(raw, `${path}.${index}`, issues)
    if (!spec) return
    if (seen.has(spec.id))
      issues.push({ path: `${path}.${index}.id`, message: `repeats the id ${describeValue(spec.id)}` })
    seen.add(spec.id)
    if ((raw as MappingInput).enabled !== false) specs.push(spec)
  })
  if (issues.length) throw new MappingError('Invalid mappings', issues)
  return specs
}

function parseOne(raw: unknown, at: string, issues: FieldIssue[]): MappingSpec | undefined {
  if (!isObject(raw)) {
    issues.push({ path: at, message: `must be an object (Received: ${describeValue(raw)})` })
    return undefined
  }
  const before = issues.length
  for (const key of Object.keys(raw)) {
    if (!KEYS.has(key)) issues.push({ path: `${at}.${key}`, message: 'is not a mapping option' })
  }
  const { id, name, action, trigger, fields = {}, enabled } = raw
  if (typeof id !== 'string' || !ID.test(id)) {
    issues.push({
      path: `${at}.id`,
      message: `must be 1-64 letters, digits or _.:- (Received: ${describeValue(id)})`,
    })
  }
  if (name !== undefined && typeof name !== 'string') {
    issues.push({ path: `${at}.name`, message: `must be a string (Received: ${describeValue(name)})` })
  }
  if (enabled !== undefined && typeof enabled !== 'boolean') {
    issues.push({ path: `${at}.enabled`, message: `must be a boolean (Received: ${describeValue(enabled)})` })
  }
  if (!isActionKey(action)) {
    issues.push({
      path: `${at}.action`,
      message: `must be one of ${Object.keys(ACTIONS).join(', ')} (Received: ${describeValue(action)})`,
    })
    return undefined
  }
  const definition = ACTIONS[action]

  const triggerText = trigger ?? definition.defaultTrigger
  let node: TriggerNode | undefined
  if (typeof triggerText !== 'string' || triggerText.trim() === '') {
    issues.push({
      path: `${at}.trigger`,
      message:
        trigger === undefined
          ? `is required: ${action} has no default trigger`
          : `must be a subscription such as 'type = "track"' (Received: ${describeValue(trigger)})`,
    })
  } else {
    try {
      node = parseTrigger(triggerText)
    } catch (error) {
      issues.push({
        path: `${at}.trigger`,
        message: error instanceof RelayError ? error.message : String(error),
      })
    }
  }

  const merged: Record<string, unknown> = {}
  if (!isObject(fields)) {
    issues.push({ path: `${at}.fields`, message: `must be an object (Received: ${describeValue(fields)})` })
  } else {
    for (const field of definition.fields) {
      const value = Object.prototype.hasOwnProperty.call(fields, field.key)
        ? fields[field.key]
        : field.default
      if (value !== undefined && value !== null) merged[field.key] = value
      else if (field.required) {
        issues.push({
          path: `${at}.fields.${field.key}`,
          message: `is required by ${action} and has no default`,
        })
      }
    }
    for (const key of Object.keys(fields)) {
      if (!definition.fields.some((f) => f.key === key)) {
        issues.push({ path: `${at}.fields.${key}`, message: `is not a field of ${action}` })
      }
    }
    for (const issue of checkMapping(merged)) {
      issues.push({ path: `${at}.fields${issue.path ? `.${issue.path}` : ''}`, message: issue.message })
    }
  }

  if (issues.length > before || !node || typeof id !== 'string') return undefined
  return {
    id,
    name: typeof name === 'string' ? name : definition.title,
    action,
    trigger: node,
    triggerText: triggerText as string,
    fields: merged,
    program: compileMapping(merged),
  }
}
