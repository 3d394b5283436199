// The one error middleware: every error becomes `{ error: { code, message, requestId, issues? } }` with
// the right status. Unknown errors answer a generic 500 (their message may hold anything) and are
// logged; nothing a request does can end the process.
import type { ErrorBody } from '@qualtrics-relay/core'
import { RelayError } from '@qualtrics-relay/core'
import type { NextFunction, Request, Response } from 'express'
import { HttpError } from '../http-error'
import type { Logger } from '../logger'
import type { ProxyMetrics } from '../metrics'
import { resourceFailureOf } from '../resource-failure'
import { allowReadingError } from '../security/cors'
import { requestIdOf } from './request-context'

interface Answer {
  status: number
  code: string
  message: string
  issues?: readonly { path: string; message: string }[]
  headers?: Readonly<Record<string, string>>
}

/** body-parser's errors carry `type` and `status`. */
interface ParserError {
  type?: unknown
  status?: unknown
  statusCode?: unknown
  expose?: unknown
  limit?: unknown
}

const RETRY_SOON = { 'Retry-After': '5' }

export function toAnswer(error: unknown, maxBodyBytes: number): Answer {
  // First: whatever wraps it, a failure of the machine is retryable (503), never the request's (4xx).
  const resource = error instanceof HttpError ? undefined : resourceFailureOf(error)
  if (resource?.kind === 'process') {
    return {
      status: 503,
      code: 'RESOURCE_EXHAUSTED',
      message: `The proxy is short of resources (${resource.code}); nothing from this request was kept. Try again shortly.`,
      headers: RETRY_SOON,
    }
  }
  const storeFailed =
    !(error instanceof HttpError) && error instanceof RelayError && error.code === 'STORAGE_ERROR'
  if (resource !== undefined || storeFailed) {
    return {
      status: 503,
      code: 'STORAGE_ERROR',
      message: `The proxy cannot store items right now${resource ? ` (${resource.code})` : ''}; nothing from this request was kept. Try again shortly.`,
      headers: RETRY_SOON,
    }
  }
  if (error instanceof HttpError) {
    const answer: Answer = {
      status: error.status,
      code: error.code,
      message: error.message,
      headers: error.headers,
    }
    if (error.issues) answer.issues = error.issues
    return answer
  }
  if (error instanceof RelayError) {
    const status =
      error.status !== undefined && error.status >= 400 && error.status < 600 ? error.status : 500
    if (status >= 500) return internal()
    const answer: Answer = { status, code: error.code, message: error.message }
    const issues = (error as { issues?: unknown }).issues
    if (Array.isArray(issues)) answer.issues = issues as Answer['issues'] & object
    return answer
  }
  const e = (typeof error === 'object' && error !== null ? error : {}) as ParserError
  const status =
    typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500
  switch (e.type) {
    case 'entity.too.large':
      return {
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
        message: `The body is larger than the limit of ${maxBodyBytes} bytes; send fewer items per batch`,
      }
    case 'entity.parse.failed':
      return { status: 400, code: 'MALFORMED_JSON', message: 'The body is not valid JSON' }
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'The body must be UTF-8 encoded JSON' }
    case 'request.aborted':
      return { status: 400, code: 'BAD_REQUEST', message: 'The request was aborted before its body arrived' }
    case 'request.size.invalid':
      return {
        status: 400,
        code: 'BAD_REQUEST',
        message: 'The body is shorter or longer than its Content-Length',
      }
  }
  if (error instanceof URIError && status === 400) {
    return { status: 400, code: 'BAD_REQUEST', message: 'The URL is not validly percent-encoded' }
  }
  if (status >= 400 && status < 500 && e.expose === true) {
    return { status, code: 'BAD_REQUEST', message: 'The request could not be read' }
  }
  return internal()
}

function internal(): Answer {
  return {
    status: 500,
    code: 'INTERNAL_ERROR',
    message: 'Internal error; the request id identifies it in the logs',
  }
}

export function errorHandler(logger: Logger, metrics: ProxyMetrics, maxBodyBytes: number) {
  return (error: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    const requestId = requestIdOf(res)
    const answer = toAnswer(error, maxBodyBytes)
    metrics.refused.inc({ code: answer.code })
    // The request's log line (request-context.ts) carries the code, with the Origin, so a refusal such
    // as ORIGIN_NOT_ALLOWED can be traced to the site that sent it.
    res.locals.refusal = answer.code
    if (answer.status >= 500) {
      logger.error({ requestId, code: answer.code, err: describeError(error) }, 'request failed')
    }
    if (res.headersSent) {
      res.end()
      return
    }
    const body: ErrorBody = { error: { code: answer.code, message: answer.message, requestId } }
    if (answer.issues && answer.issues.length > 0) body.error.issues = [...answer.issues]
    res.status(answer.status)
    allowReadingError(res)
    for (const [name, value] of Object.entries(answer.headers ?? {})) res.setHeader(name, value)
    res.setHeader('Cache-Control', 'no-store')
    res.json(body)
  }
}

/** What is logged of an unexpected error: its name, code and message, and the stack. */
function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    return {
      name: error.name,
      code: (error as { code?: unknown }).code,
      message: error.message,
      stack: error.stack,
    }
  }
  return { value: String(error) }
}
