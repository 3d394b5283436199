// The hot path: for one event, every mapping whose trigger matches, mapped and checked.
// Used by the browser plugin (with the structural field checks only, the default: no id forms or date
// formatting, the proxy runs those) and the node plugin (with the whole checkPayload).
import type { ActionKey, PayloadByAction } from './actions/payloads'
import type { FieldIssue } from './errors'
import { RelayError } from './errors'
import { runMapping } from './mapping/index'
import type { MappingSpec } from './mapping-set'
import { checkFields } from './payload/check-fields'
import { matchesTrigger } from './trigger/index'

export type MappedPayload = {
  [K in ActionKey]: { mappingId: string; action: K; payload: PayloadByAction[K] }
}[ActionKey]

export interface MappingFailure {
  mappingId: string
  action: ActionKey
  issues: FieldIssue[]
}

export interface MappedEvent {
  payloads: MappedPayload[]
  failures: MappingFailure[]
}

/** Checks one mapped payload: the payload to send, or the problems (any issue makes it a failure). */
export type PayloadChecker = (
  action: ActionKey,
  raw: unknown,
) => { payload?: object | undefined; issues: FieldIssue[] }

/**
 * Never throws: a mapping that cannot be applied becomes a failure with its issues. `check` defaults to
 * `checkFields` without format checks (what the browser can afford: types and required fields);
 * pass `(a, p) => checkPayload(a, p, options)` for the whole check and normalisation, as the node
 * plugin does.
 */
export function mapEvent(
  mappings: readonly MappingSpec[],
  event: object,
  check: PayloadChecker = checkFields,
): MappedEvent {
  const result: MappedEvent = { payloads: [], failures: [] }
  for (const mapping of mappings) {
    if (!matchesTrigger(mapping.trigger, event)) continue
    const { id: mappingId, action } = mapping
    let checked: ReturnType<PayloadChecker>
    try {
      checked = check(action, runMapping(mapping.program, event))
    } catch (error) {
      const message = error instanceof RelayError ? error.message : String(error)
      checked = { issues: [{ path: 'fields', message }] }
    }
    if (checked.payload && !checked.issues.length)
      result.payloads.push({ mappingId, action, payload: checked.payload } as MappedPayload)
    else result.failures.push({ mappingId, action, issues: checked.issues })
  }
  return result
}
