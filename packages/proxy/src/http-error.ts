// Errors the proxy answers with. Each maps to one HTTP status and one stable code in the JSON body
// (`{ error: { code, message, requestId, issues? } }`, core's ErrorBody).
import { RelayError, type FieldIssue, type RelayErrorCode } from '@qualtrics-relay/core'

/** The codes the proxy itself answers with (a subset of core's RelayErrorCode). */
export type HttpErrorCode = Extract<
  RelayErrorCode,
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
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'RATE_LIMITED'
  | 'STORAGE_ERROR'
  | 'RESOURCE_EXHAUSTED'
  | 'INTERNAL_ERROR'
>

/** An error with an HTTP status, for the error middleware. */
export class HttpError extends RelayError {
  override readonly name = 'HttpError'
  override readonly status: number
  readonly issues: readonly FieldIssue[] | undefined
  /** Extra response headers, e.g. `Retry-After`. */
  readonly headers: Readonly<Record<string, string>>

  constructor(
    code: RelayErrorCode,
    status: number,
    message: string,
    options: { issues?: readonly FieldIssue[]; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(code, message, {
      status,
      retryable: status === 429 || status >= 500,
      cause: options.cause,
    })
    this.status = status
    this.issues = options.issues
    this.headers = options.headers ?? {}
  }
}
