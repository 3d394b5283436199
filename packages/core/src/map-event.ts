// The hot path: for one event, every mapping whose trigger matches, mapped and checked.
// Used by the browser plugin, the node plugin and the playground.
import type { ActionKey, PayloadByAction } from './actions/payloads'
import type { FieldIssue } from './errors'
import { RelayError } from './errors'
import { runMapping } from './mapping/index'
import type { MappingSpec } from './mapping-set'
import { checkPayload, type PayloadCheckOptions } from './payload/check-payload'
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

/** Never throws: a mapping that cannot be applied becomes a failure with its issues. */
export function mapEvent(
  mappings: readonly MappingSpec[],
  event: object,
  options?: PayloadCheckOptions,
): MappedEvent {
  const result: MappedEvent = { payloads: [], failures: [] }
  for (const mapping of mappings) {
    if (!matchesTrigger(mapping.trigger, event)) continue
    const { id: mappingId, action } = mapping
    let checked
    try {
      checked = checkPayload(action, runMapping(mapping.program, event), options)
    } catch (error) {
      const message = error instanceof RelayError ? error.message : String(error)
      result.failures.push({ mappingId, action, issues: [{ path: 'fields', message }] })
      continue
    }
    if (checked.payload)
      result.payloads.push({ mappingId, action, payload: checked.payload } as MappedPayload)
    else result.failures.push({ mappingId, action, issues: checked.issues })
  }
  return result
}
