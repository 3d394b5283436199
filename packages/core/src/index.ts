// @qualtrics-relay/core — the browser-safe entry: actions, mappings, triggers, payload checks, errors
// and wire types. Nothing here imports Node built-ins or touches the DOM at load.
export {
  ACTIONS,
  isActionKey,
  addContactToXmd,
  upsertContactTransaction,
  triggerXflowWorkflow,
} from './actions/definitions'
export type { ActionDefinition, FieldDefinition, FieldType } from './actions/definitions'
export { ACTION_FIELDS } from './actions/fields'
export type {
  ActionKey,
  ContactPayload,
  TransactionPayload,
  WorkflowPayload,
  PayloadByAction,
  DeliveryItem,
  FlatData,
} from './actions/payloads'
export {
  RelayError,
  ConfigError,
  MappingError,
  TriggerParseError,
  PayloadValidationError,
  describeValue,
  formatIssues,
} from './errors'
export { issue } from './payload/issue'
export type { RelayErrorCode, RelayErrorOptions, FieldIssue } from './errors'
export type { SegmentEvent, JSONValue, JSONObject, JSONPrimitive } from './event'
export { applyMapping, checkMapping } from './mapping/index'
export { compileMapping, runMapping } from './mapping/index'
export type { MappingProgram } from './mapping/index'
export {
  parseTrigger,
  matchesTrigger,
  formatTrigger,
  isTriggerNode,
  MAX_TRIGGER_LENGTH,
  TRIGGER_OPERATORS,
} from './trigger/index'
export type {
  TriggerNode,
  TriggerGroup,
  TriggerCondition,
  TriggerField,
  TriggerOperator,
} from './trigger/index'
export { parseMappingSet, MAX_MAPPINGS } from './mapping-set'
export type { MappingInput, MappingSpec } from './mapping-set'
export { mapEvent } from './map-event'
export type { MappedEvent, MappedPayload, MappingFailure, PayloadChecker } from './map-event'
export { checkFields } from './payload/check-fields'
export type { FieldCheck } from './payload/check-fields'
export { checkFormats } from './payload/check-formats'
export { checkPayload, validatePayload } from './payload/check-payload'
export type { PayloadCheck, PayloadCheckOptions } from './payload/check-payload'
export { toQualtricsDate } from './payload/format-date'
export { flattenData, MAX_DATA_KEY_LENGTH, MAX_DATA_VALUE_LENGTH } from './payload/flatten-data'
export { isQualtricsUrl } from './payload/qualtrics-url'
export type * from './wire'
export { SETTINGS_VERSION } from './wire'
