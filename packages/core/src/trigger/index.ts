// Triggers: Segment's subscription language. The evaluator (match-trigger.ts) is separate from the
// parser so that a browser bundle importing only `matchesTrigger` leaves the parser out.
export { matchesTrigger } from './match-trigger'
export { parseTrigger, MAX_TRIGGER_LENGTH } from './parse-trigger'
export { formatTrigger } from './format-trigger'
export { isTriggerNode, TRIGGER_OPERATORS } from './trigger-node'
export type {
  TriggerNode,
  TriggerGroup,
  TriggerCondition,
  TriggerField,
  TriggerOperator,
} from './trigger-node'
