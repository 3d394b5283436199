// Per request: a request id, security headers, and one log line plus one duration sample at the end.
import { randomUUID } from 'node:crypto'
import type { NextFunction, Request, Response } from 'express'
import type { Logger } from '../logger'
import type { ProxyMetrics } from '../metrics'

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/

/** The request id of this request (set by `requestContext`). */
export function requestIdOf(res: Response): string {
  return (res.locals.requestId as string | undefined) ?? 'unknown'
}

/**
 * Put in front of a mounted router: remembers where it is mounted (`/v1`). Express puts `req.baseUrl`
 * back to the parent's when an error leaves the router, and the log line is written after that, so a
 * refused `POST /v1/batch` would otherwise be logged as `/batch`.
 */
export function rememberMount(req: Request, res: Response, next: NextFunction): void {
  res.locals.mountPath = req.baseUrl
  next()
}

/** The route template that matched, with the path its router is mounted at (`/v1/messages/:messageId`), or `unmatched`. */
export function routeOf(req: Request, res: Response): string {
  const path = (req.route as { path?: unknown } | undefined)?.path
  if (typeof path !== 'string') return 'unmatched'
  const mount = (res.locals.mountPath as string | undefined) ?? req.baseUrl
  return `${mount}${path}`
}

export function requestContext(logger: Logger, metrics: ProxyMetrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint()
    const given = req.get('x-request-id')
    const requestId = given !== undefined && SAFE_REQUEST_ID.test(given) ? given : randomUUID()
    res.locals.requestId = requestId
    res.setHeader('X-Request-Id', requestId)
    // JSON API only: nothing here should ever be sniffed, framed, or leak a referrer.
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('X-Frame-Options', 'DENY')
    res.setHeader('Referrer-Policy', 'no-referrer')
    res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'")
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin')

    let done = false
    const finish = () => {
      if (done) return
      done = true
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      const route = routeOf(req, res)
      const status = res.headersSent ? res.statusCode : 499
      metrics.httpDuration.observe({ method: req.method, route, status: String(status) }, ms / 1000)
      const fields: Record<string, unknown> = {
        requestId,
        method: req.method,
        route,
        status,
        ms: Math.round(ms * 100) / 100,
      }
      // Set by the error middleware on a refusal: its code, and where a browser request came from.
      const refusal = res.locals.refusal as string | undefined
      if (refusal !== undefined) fields.code = refusal
      const origin = req.get('origin')
      if (origin !== undefined) fields.origin = origin.slice(0, 200)
      if (status >= 500) logger.error(fields, 'request')
      else logger.info(fields, 'request')
    }
    res.on('finish', finish)
    res.on('close', finish)
    next()
  }
}
