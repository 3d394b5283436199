// @qualtrics-relay/sandbox — a local simulator of the Qualtrics REST API endpoints used for XM
// Directory contacts, transactions and workflow triggers. Imports nothing of the project.

export { startSandbox, createSandboxServer } from './server'
export type { StartSandboxOptions, RunningSandbox, SandboxServer } from './server'
export { createSandbox, datacenterOfHost } from './sandbox'
export type { Sandbox, SandboxOptions, SandboxSnapshot, SandboxInfo, SandboxPrimary } from './sandbox'
export { parseSeed } from './seed'
export type {
  SeedInput,
  SeedUser,
  SeedDirectory,
  SeedMailingList,
  SeedContact,
  SeedWorkflow,
  SeedResult,
} from './seed'
export { parseFaultRules, FAULT_KINDS } from './faults'
export type { FaultRule, FaultRules, FaultKind, FaultTarget, FaultRuleStatus } from './faults'
export { parseRateLimitOptions, resolveRateLimit, DEFAULT_PER_MINUTE } from './rate-limit'
export type { RateLimitOptions, EndpointRateLimit, ResolvedRateLimit } from './rate-limit'
export { parseBehaviour, DEFAULT_BEHAVIOUR } from './behaviour'
export type { BehaviourOptions, ResolvedBehaviour } from './behaviour'
export { createManualClock } from './clock'
export type { Clock, ManualClock } from './clock'
export { ROUTE_NAMES } from './routes'
export type { RouteName } from './routes'
export { CONTROL_PATHS } from './control'
export { STATE_FORMAT } from './persist'
export type { PersistedFile } from './persist'
export { httpStatusLine } from './envelope'
export type { QualtricsEnvelope, QualtricsMeta } from './envelope'
export { SandboxError, describeValue } from './errors'
export type { SandboxErrorCode } from './errors'
export type {
  Scalar,
  MergeField,
  MergeRule,
  UserRecord,
  DirectoryRecord,
  ContactRecord,
  ContactOrigin,
  MailingListRecord,
  TransactionRecord,
  TransactionBatchRecord,
  WorkflowAuth,
  WorkflowRecord,
  WorkflowRunRecord,
  RequestLogEntry,
  SandboxState,
} from './types'
