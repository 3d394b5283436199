// The inspection and control API under `/__sandbox/` (a prefix Qualtrics never uses). Plain JSON,
// no envelope, no auth (the sandbox listens on 127.0.0.1 by default); errors are
// `{ error: { code, message } }`.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { SandboxError } from './errors'
import { readBody, sendJson } from './http-util'
import type { Sandbox } from './sandbox'

const CONTROL_BODY_LIMIT = 64 * 1024 * 1024

type ControlHandler = (sandbox: Sandbox, body: unknown, baseUrl: string) => { status?: number; body: unknown }

const ROUTES: Record<string, Partial<Record<string, ControlHandler>>> = {
  '/__sandbox/info': { GET: (s, _b, base) => ({ body: s.info(base) }) },
  '/__sandbox/state': { GET: (s) => ({ body: s.inspect() }) },
  '/__sandbox/reset': {
    POST: (s, body, base) => {
      s.reset(body === undefined ? undefined : (body as never))
      return { body: s.info(base) }
    },
  },
  '/__sandbox/seed': { POST: (s, body) => ({ body: s.seed(body as never) }) },
  '/__sandbox/faults': {
    GET: (s) => ({ body: s.inspect().faults }),
    PUT: (s, body) => {
      s.setFaults(body as never)
      return { body: s.inspect().faults }
    },
    DELETE: (s) => {
      s.setFaults([])
      return { body: [] }
    },
  },
  '/__sandbox/rate-limit': {
    GET: (s) => ({ body: s.inspect().rateLimit }),
    PUT: (s, body) => {
      s.setRateLimit(body as never)
      return { body: s.inspect().rateLimit }
    },
  },
  '/__sandbox/behaviour': {
    GET: (s) => ({ body: s.inspect().behaviour }),
    PUT: (s, body) => {
      s.setBehaviour(body as never)
      return { body: s.inspect().behaviour }
    },
  },
  '/__sandbox/requests': {
    GET: (s) => ({ body: s.inspect().requests }),
    DELETE: (s) => {
      s.clearRequests()
      return { body: [] }
    },
  },
}

export const CONTROL_PATHS = Object.keys(ROUTES)

export async function handleControl(
  sandbox: Sandbox,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  pathname: string,
  baseUrl: string,
): Promise<void> {
  const read = await readBody(req, CONTROL_BODY_LIMIT)
  const path = pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname
  const routes = ROUTES[path]
  if (!routes) {
    sendJson(res, 404, {
      error: { code: 'NOT_FOUND', message: `No control route ${path}; known: ${CONTROL_PATHS.join(', ')}` },
    })
    return
  }
  const handler = routes[method]
  if (!handler) {
    sendJson(
      res,
      405,
      {
        error: {
          code: 'METHOD_NOT_ALLOWED',
          message: `${path} accepts ${Object.keys(routes).join(', ')} (Received: ${method})`,
        },
      },
      {
        Allow: Object.keys(routes).join(', '),
      },
    )
    return
  }
  if (!read.ok) {
    sendJson(res, 413, {
      error: {
        code: 'PAYLOAD_TOO_LARGE',
        message: `Control bodies must be at most ${CONTROL_BODY_LIMIT} bytes`,
      },
    })
    return
  }
  let body: unknown
  if (read.body.length > 0) {
    try {
      body = JSON.parse(read.body.toString('utf8')) as unknown
    } catch {
      sendJson(res, 400, {
        error: {
          code: 'INVALID_JSON',
          message: `Request body is not valid JSON (Received: ${read.body.length} bytes)`,
        },
      })
      return
    }
  }
  try {
    const out = handler(sandbox, body, baseUrl)
    sendJson(res, out.status ?? 200, out.body)
  } catch (error) {
    if (error instanceof SandboxError) {
      sendJson(res, 400, { error: { code: error.code, message: error.message } })
      return
    }
    throw error
  }
}
