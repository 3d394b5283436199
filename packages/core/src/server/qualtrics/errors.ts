// The errors the Qualtrics client rejects with: one class per kind, all under RelayError.
//
// Retry rule (what `retryable` says, and why):
//
// | error                  | code                   | when                                   | retryable |
// |------------------------|------------------------|----------------------------------------|-----------|
// | QualtricsApiError      | QUALTRICS_API_ERROR    | 400, 401, 403, 404, 409, 413, 422, …   | no: the same request gets the same answer |
// | QualtricsApiError      | QUALTRICS_API_ERROR    | 408 Request Timeout                    | yes       |
// | QualtricsApiError      | QUALTRICS_RATE_LIMITED | 429 (`retryAfterMs` from Retry-After)  | yes, not before `retryAfterMs` |
// | QualtricsApiError      | QUALTRICS_API_ERROR    | 500, 502, 503, 504, other 5xx          | yes (1)   |
// | QualtricsApiError      | QUALTRICS_API_ERROR    | 501 Not Implemented                    | no        |
// | QualtricsResponseError | QUALTRICS_BAD_RESPONSE | 2xx whose body is not JSON, has no     | yes (2)   |
// |                        |                        | envelope, or a `result` of wrong shape |           |
// | QualtricsResponseError | QUALTRICS_BAD_RESPONSE | 3xx (redirects are never followed)     | no        |
// | NetworkError           | NETWORK_ERROR          | DNS, refused, reset, TLS               | yes (1)   |
// | TimeoutError           | TIMEOUT                | no full answer within `timeoutMs`      | yes (1)   |
// | HostNotAllowedError    | HOST_NOT_ALLOWED       | URL outside the allowlist, no request  | no        |
//
// (1) After a write, a 5xx (504 above all), a dropped connection or a timeout may hide a write that
//     Qualtrics did apply. Retrying is still right: the delivery engine makes every write idempotent
//     (transaction keys derived from messageId, contacts looked up before they are created), so a
//     second attempt finds the first one instead of writing twice.
// (2) A 2xx means Qualtrics most likely did the work, but we could not read the outcome (a created id,
//     the per-transaction report). Asking again is the only way to learn it, and (1) makes that safe.
//     A shape that stays wrong is bounded by the engine's attempt limit and ends as a dead letter.

import { RelayError } from '../../errors'

/** How an HTTP status should be retried: 408, 429 and 5xx except 501. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501)
}

/** Where a request went: the method and the URL path without its query (which may hold tokens). */
export interface RequestTarget {
  method: string
  path: string
}

export interface QualtricsApiErrorDetails extends RequestTarget {
  status: number
  statusText: string
  /** `meta.error.errorMessage`, truncated. */
  errorMessage?: string
  /** `meta.error.errorCode`. */
  errorCode?: string
  /** `meta.requestId`, the id to quote to Qualtrics support. */
  requestId?: string
  /** `meta.error.instanceId` (5xx). */
  instanceId?: string
  /** From `Retry-After` (seconds or an HTTP date), when the answer carried one. */
  retryAfterMs?: number
  /** A short excerpt of a body that was not Qualtrics' JSON envelope. */
  bodyExcerpt?: string
}

/** Qualtrics answered with an HTTP status ≥ 400. */
export class QualtricsApiError extends RelayError {
  override readonly name = 'QualtricsApiError'
  override readonly status: number
  readonly method: string
  readonly path: string
  readonly statusText: string
  readonly errorMessage: string | undefined
  readonly errorCode: string | undefined
  readonly requestId: string | undefined
  readonly instanceId: string | undefined
  readonly retryAfterMs: number | undefined

  constructor(details: QualtricsApiErrorDetails) {
    super(
      details.status === 429 ? 'QUALTRICS_RATE_LIMITED' : 'QUALTRICS_API_ERROR',
      apiErrorMessage(details),
      {
        status: details.status,
        retryable: isRetryableStatus(details.status),
      },
    )
    this.status = details.status
    this.method = details.method
    this.path = details.path
    this.statusText = details.statusText
    this.errorMessage = details.errorMessage
    this.errorCode = details.errorCode
    this.requestId = details.requestId
    this.instanceId = details.instanceId
    this.retryAfterMs = details.retryAfterMs
  }
}

function apiErrorMessage(d: QualtricsApiErrorDetails): string {
  const head = `Qualtrics answered ${d.status}${d.statusText ? ` ${d.statusText}` : ''} to ${d.method} ${d.path}`
  const what = d.errorMessage ?? (d.bodyExcerpt === undefined ? undefined : `(Received: ${d.bodyExcerpt})`)
  const extras = [
    d.errorCode === undefined ? undefined : `errorCode ${d.errorCode}`,
    d.requestId === undefined ? undefined : `requestId ${d.requestId}`,
    d.instanceId === undefined ? undefined : `instanceId ${d.instanceId}`,
    d.retryAfterMs === undefined ? undefined : `retry after ${d.retryAfterMs} ms`,
  ].filter((x) => x !== undefined)
  return `${head}${what === undefined ? '' : `: ${what}`}${extras.length > 0 ? ` (${extras.join(', ')})` : ''}`
}

/** What was wrong with a response that was not an HTTP error. */
export type BadResponseKind = 'not-json' | 'no-envelope' | 'bad-shape' | 'redirect'

export interface QualtricsResponseErrorDetails extends RequestTarget {
  status: number
  kind: BadResponseKind
  /** What was expected and what was received, e.g. `result.id must be a string (Received: 12)`. */
  problem: string
  requestId?: string
}

/** Qualtrics answered 2xx (or 3xx) with something the client cannot use. */
export class QualtricsResponseError extends RelayError {
  override readonly name = 'QualtricsResponseError'
  override readonly status: number
  readonly kind: BadResponseKind
  readonly method: string
  readonly path: string
  readonly requestId: string | undefined

  constructor(details: QualtricsResponseErrorDetails) {
    super(
      'QUALTRICS_BAD_RESPONSE',
      `Qualtrics answered ${details.status} to ${details.method} ${details.path} with an unusable response: ${details.problem}${
        details.requestId === undefined ? '' : ` (requestId ${details.requestId})`
      }`,
      { status: details.status, retryable: details.kind !== 'redirect' },
    )
    this.status = details.status
    this.kind = details.kind
    this.method = details.method
    this.path = details.path
    this.requestId = details.requestId
  }
}

/** The request never got an HTTP answer: DNS failure, connection refused or reset, TLS failure. */
export class NetworkError extends RelayError {
  override readonly name = 'NetworkError'
  readonly method: string
  readonly path: string
  constructor(target: RequestTarget & { origin: string; reason: string; cause?: unknown }) {
    super(
      'NETWORK_ERROR',
      `Could not reach Qualtrics for ${target.method} ${target.path} at ${target.origin}: ${target.reason}`,
      { retryable: true, cause: target.cause },
    )
    this.method = target.method
    this.path = target.path
  }
}

/** No complete answer arrived within `timeoutMs` (headers and body both count). */
export class TimeoutError extends RelayError {
  override readonly name = 'TimeoutError'
  readonly method: string
  readonly path: string
  readonly timeoutMs: number
  constructor(target: RequestTarget & { timeoutMs: number }) {
    super(
      'TIMEOUT',
      `Qualtrics did not answer ${target.method} ${target.path} within ${target.timeoutMs} ms`,
      {
        retryable: true,
      },
    )
    this.method = target.method
    this.path = target.path
    this.timeoutMs = target.timeoutMs
  }
}

/** The client refused to send the API token to a URL outside the allowlist; nothing was sent. */
export class HostNotAllowedError extends RelayError {
  override readonly name = 'HostNotAllowedError'
  constructor(message: string) {
    super('HOST_NOT_ALLOWED', message, { status: 400, retryable: false })
  }
}
