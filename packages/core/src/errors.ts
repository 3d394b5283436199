// One base error for the whole project. Every error carries a stable code, an optional HTTP status,
// and whether retrying the same operation later could succeed.

export type RelayErrorCode =
  | 'CONFIG_INVALID'
  | 'MAPPING_INVALID'
  | 'TRIGGER_PARSE_ERROR'
  | 'PAYLOAD_INVALID'
  | 'QUALTRICS_API_ERROR'
  | 'QUALTRICS_RATE_LIMITED'
  | 'QUALTRICS_BAD_RESPONSE'
  | 'QUALTRICS_UNAVAILABLE'
  | 'NETWORK_ERROR'
  | 'TIMEOUT'
  | 'HOST_NOT_ALLOWED'
  | 'CONTACT_AMBIGUOUS'
  | 'CONTACT_NOT_FOUND'
  | 'DELIVERY_FAILED'
  | 'STORAGE_ERROR'
  /** The process ran out of something (file descriptors, memory): retryable, never the request's fault. */
  | 'RESOURCE_EXHAUSTED'
  // Refusals of the proxy's HTTP API
  | 'BAD_REQUEST'
  | 'MALFORMED_JSON'
  | 'UNKNOWN_WRITE_KEY'
  | 'ORIGIN_NOT_ALLOWED'
  | 'FORBIDDEN'
  | 'IDENTITY_INVALID'
  | 'UNKNOWN_MAPPING'
  | 'UNAUTHORIZED'
  | 'NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'HEADERS_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'RATE_LIMITED'
  | 'INTERNAL_ERROR'

export interface RelayErrorOptions {
  status?: number
  retryable?: boolean
  cause?: unknown
}

// Fields are `declare`d and set in the constructors: no class-field initialisers, which browsers'
// bundles would otherwise have to lower into helper calls.
export class RelayError extends Error {
  declare readonly code: RelayErrorCode
  declare readonly status: number | undefined
  declare readonly retryable: boolean

  constructor(code: RelayErrorCode, message: string, options: RelayErrorOptions = {}) {
    // Error reads only `cause` from the options (and only when the key is there).
    super(message, options)
    this.name = 'RelayError'
    this.code = code
    this.status = options.status
    this.retryable = !!options.retryable
  }
}

/** One problem with one field: `path` is dotted (`mappings.3.trigger`), `received` a short rendering. */
export interface FieldIssue {
  path: string
  message: string
}

/** Bad configuration or options: every problem is listed, never only the first. */
export class ConfigError extends RelayError {
  declare readonly issues: readonly FieldIssue[]
  constructor(message: string, issues: readonly FieldIssue[] = [], options: RelayErrorOptions = {}) {
    super('CONFIG_INVALID', formatIssues(message, issues), { status: 500, ...options })
    this.name = 'ConfigError'
    this.issues = issues
  }
}

/** A mapping set or a single mapping that cannot be used. */
export class MappingError extends RelayError {
  declare readonly issues: readonly FieldIssue[]
  constructor(message: string, issues: readonly FieldIssue[] = []) {
    super('MAPPING_INVALID', formatIssues(message, issues), { status: 400 })
    this.name = 'MappingError'
    this.issues = issues
  }
}

/** A trigger (subscription) that does not parse; `position` is the 0-based character offset. */
export class TriggerParseError extends RelayError {
  declare readonly position: number
  constructor(message: string, position: number) {
    super('TRIGGER_PARSE_ERROR', message, { status: 400 })
    this.name = 'TriggerParseError'
    this.position = position
  }
}

/** A mapped payload that Qualtrics would refuse, or that is not what the action needs. */
export class PayloadValidationError extends RelayError {
  declare readonly issues: readonly FieldIssue[]
  constructor(message: string, issues: readonly FieldIssue[] = []) {
    super('PAYLOAD_INVALID', formatIssues(message, issues), { status: 400 })
    this.name = 'PayloadValidationError'
    this.issues = issues
  }
}

/** Renders a received value for an error message: short, single-line, never a whole body. */
export function describeValue(value: unknown, max = 60): string {
  const type = typeof value
  let text: string
  if (type == 'function') return 'a function'
  try {
    // JSON would print Infinity and NaN as null; it gives undefined for undefined and a symbol.
    text =
      type == 'number'
        ? String(value)
        : type == 'bigint'
          ? `${value}n`
          : JSON.stringify(value) || String(value)
  } catch {
    text = Object.prototype.toString.call(value)
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/** `message`, then one line per issue (`  - path: message`): the message of every error with issues. */
export function formatIssues(message: string, issues: readonly FieldIssue[]): string {
  return message + issues.map((i) => `\n  - ${i.path && i.path + ': '}${i.message}`).join('')
}
