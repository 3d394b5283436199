// The Qualtrics client's public surface, re-exported by the server entry of core.

export { createQualtricsClient, parseRetryAfter, MAX_WORKFLOW_PAYLOAD_BYTES } from './qualtrics-client'
export {
  parseQualtricsClientOptions,
  isDatacenter,
  PUBLISHED_DATACENTERS,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_USER_AGENT,
  type QualtricsClientOptions,
  type QualtricsLogger,
  type QualtricsCallLog,
} from './options'
export { isQualtricsHostname, parseAllowedUrl } from './host-allowlist'
export {
  QualtricsApiError,
  QualtricsResponseError,
  NetworkError,
  TimeoutError,
  HostNotAllowedError,
  isRetryableStatus,
  type BadResponseKind,
  type RequestTarget,
} from './errors'
export type {
  QualtricsApi,
  QualtricsClient,
  ListedContactTransaction,
  ContactFields,
  DirectoryContact,
  ContactFilter,
  ContactFilterGroup,
  ContactFilterLeaf,
  ContactFilterType,
  SearchContactsResult,
  ContactTransaction,
  CreateTransactionsResult,
  WhoAmI,
  DeduplicationCriteria,
  DirectorySummary,
} from './types'
