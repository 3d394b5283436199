// CORS for the public routes: only origins configured for some write key get CORS headers, and a
// request whose Origin is not configured for the write key it names is refused with 403, even when it
// is a "simple" request (sendBeacon's text/plain) that a browser sends without a preflight. Refusals
// themselves (403 ORIGIN_NOT_ALLOWED, 401 UNKNOWN_WRITE_KEY, …) carry CORS headers for any origin, so
// the page learns why instead of seeing "Failed to fetch" and retrying for ever; a refused preflight
// still gets none (a browser cannot read a preflight's answer anyway).
import type { NextFunction, Request, Response } from 'express'
import type { WriteKeyConfig } from '../config'
import { HttpError } from '../http-error'

const ALLOWED_METHODS = 'GET, POST, OPTIONS'
// If-None-Match lets the browser plugin revalidate its cached settings (ETag) cross-origin.
const ALLOWED_HEADERS = 'Content-Type, X-Request-Id, If-None-Match'
const EXPOSED_HEADERS = 'ETag, Retry-After, X-Request-Id'

export interface Cors {
  /** For the public router: Vary, CORS headers for known origins, and preflights. */
  middleware(req: Request, res: Response, next: NextFunction): void
  /** Throws 403 when the request comes from a browser origin not allowed for this write key. */
  checkOrigin(req: Request, res: Response, writeKey: WriteKeyConfig): void
}

/** On an error answer: CORS headers for an origin the middleware left without them (see the top). */
export function allowReadingError(res: Response): void {
  const origin = res.locals.corsOnError as string | undefined
  if (origin === undefined) return
  res.setHeader('Access-Control-Allow-Origin', origin)
  res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS)
}

export function createCors(writeKeys: ReadonlyMap<string, WriteKeyConfig>): Cors {
  const known = new Set<string>()
  let anyOrigin = false
  for (const wk of writeKeys.values()) {
    for (const origin of wk.origins) {
      if (origin === '*') anyOrigin = true
      else known.add(origin)
    }
  }
  const isKnown = (origin: string) => anyOrigin || known.has(origin)
  const allows = (wk: WriteKeyConfig, origin: string) =>
    wk.origins.includes('*') || wk.origins.includes(origin)

  function allowFor(res: Response, origin: string): void {
    res.setHeader('Access-Control-Allow-Origin', origin)
    res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS)
  }

  return {
    middleware(req, res, next) {
      res.vary('Origin')
      const origin = req.get('origin')
      if (req.method === 'OPTIONS') {
        // A preflight names no write key in its body; a `writeKey` query narrows the check to that key.
        const key = typeof req.query.writeKey === 'string' ? writeKeys.get(req.query.writeKey) : undefined
        const ok = origin !== undefined && (key ? allows(key, origin) : isKnown(origin))
        if (!ok) {
          next(
            new HttpError(
              'ORIGIN_NOT_ALLOWED',
              403,
              `The origin ${origin === undefined ? '(none)' : JSON.stringify(origin)} is not allowed; add it to the write key's "origins"`,
            ),
          )
          return
        }
        allowFor(res, origin)
        res.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS)
        res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS)
        res.setHeader('Access-Control-Max-Age', '600')
        res.vary('Access-Control-Request-Headers')
        res.status(204).end()
        return
      }
      if (origin !== undefined) {
        if (isKnown(origin)) allowFor(res, origin)
        else res.locals.corsOnError = origin
      }
      next()
    },

    checkOrigin(req, res, writeKey) {
      const origin = req.get('origin')
      if (origin === undefined || allows(writeKey, origin)) return
      throw new HttpError(
        'ORIGIN_NOT_ALLOWED',
        403,
        `The origin ${JSON.stringify(origin)} is not allowed for this write key; add it to its "origins"`,
      )
    },
  }
}
