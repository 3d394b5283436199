// The Qualtrics response envelope: `{ result, meta: { httpStatus: "200 - OK", requestId } }` and
// `{ meta: { httpStatus: "404 - Not Found", error: { errorMessage, errorCode }, requestId } }`.

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? (status >= 500 ? 'Server Error' : status >= 400 ? 'Client Error' : 'OK')
}

/** `"200 - OK"`, the string form Qualtrics uses in `meta.httpStatus`. */
export function httpStatusLine(status: number): string {
  return `${status} - ${reasonPhrase(status)}`
}

export interface QualtricsMeta {
  httpStatus: string
  requestId: string
  notice?: string
  error?: { errorMessage: string; errorCode: string; instanceId?: string }
}

export interface QualtricsEnvelope {
  result?: unknown
  meta: QualtricsMeta
}

export function successEnvelope(
  status: number,
  requestId: string,
  result: unknown,
  notice?: string,
): QualtricsEnvelope {
  const meta: QualtricsMeta = { httpStatus: httpStatusLine(status), requestId }
  if (notice !== undefined) meta.notice = notice
  return result === undefined ? { meta } : { result, meta }
}

export function errorEnvelope(
  status: number,
  requestId: string,
  error: { errorCode: string; errorMessage: string; instanceId?: string },
  notice?: string,
): QualtricsEnvelope {
  const meta: QualtricsMeta = {
    httpStatus: httpStatusLine(status),
    error: {
      errorMessage: error.errorMessage,
      errorCode: error.errorCode,
      ...(error.instanceId === undefined ? {} : { instanceId: error.instanceId }),
    },
    requestId,
  }
  if (notice !== undefined) meta.notice = notice
  return { meta }
}

/** Thrown by route handlers; the dispatcher turns it into an error envelope. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  readonly status: number
  readonly errorCode: string
  readonly headers: Record<string, string>

  constructor(status: number, errorCode: string, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.status = status
    this.errorCode = errorCode
    this.headers = headers
  }
}
