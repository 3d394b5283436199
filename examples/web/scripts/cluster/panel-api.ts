// The live panel's HTTP API, served by the launcher on 127.0.0.1 (the demo site forwards /__cluster to it):
//   GET  /__cluster/state                    the fleet: each instance, the shared bucket, the addresses
//   POST /__cluster/instances/:id/kill       SIGKILL that instance; answers once it is gone
//   POST /__cluster/instances/:id/restart    start it again; answers at once (state "starting")
//   POST /__cluster/burst                    100 purchases of new shoppers through the balancer
// Killing processes is not for any web page the user happens to visit: a POST must be JSON (a page of
// another origin cannot send that without a preflight, which is not answered), an Origin must be the
// demo site's, and the Host must be this loopback address (no DNS rebinding).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { BucketView } from './bucket'
import type { BurstResult } from './burst'
import { ClusterError } from './errors'
import type { Fleet, InstanceView } from './fleet'

export const PANEL_API_PREFIX = '/__cluster'

/** What `GET /__cluster/state` answers (the page's fleet panel reads it). */
export interface ClusterState {
  instances: InstanceView[]
  /** The shared Qualtrics bucket, as the instances report it; `error` before any has. */
  bucket: BucketView | { error: string }
  /** How long a killed instance's leased items wait before the others take them. */
  leaseMs: number
  balancer: { url: string; unavailable: number }
  sandbox: { url: string }
  /** The demo site. */
  site: { url: string }
  /** The embedded server's postmaster and data directory (both gone after exit). */
  postgres: { pid: number; dir: string }
}

export interface PanelApiOptions {
  host: string
  port: number
  fleet: Fleet
  /** Sends the burst of purchases; resolves with what the fleet answered. */
  burst(): Promise<BurstResult>
  /** Everything else the state shows (bucket, addresses); read on each GET. */
  details(): Promise<Omit<ClusterState, 'instances'>>
  /** Origins whose pages may use the API (the demo site's); requests without an Origin always may. */
  origins(): readonly string[]
}

export interface PanelApi {
  url: string
  close(): Promise<void>
}

const ACTION = /^\/__cluster\/instances\/([^/]{1,100})\/(kill|restart)$/

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
  res.end(JSON.stringify(body))
}

function checkCaller(req: IncomingMessage, port: number, origins: readonly string[]): void {
  const host = req.headers.host ?? ''
  if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
    throw new ClusterError(
      'FORBIDDEN',
      403,
      `Host must be 127.0.0.1:${port} (Received: ${JSON.stringify(host)})`,
    )
  }
  const origin = req.headers.origin
  if (origin !== undefined && !origins.includes(origin)) {
    throw new ClusterError('FORBIDDEN', 403, `Origin ${JSON.stringify(origin)} may not use the panel's API`)
  }
}

async function route(
  req: IncomingMessage,
  options: PanelApiOptions,
  port: number,
): Promise<[number, unknown]> {
  checkCaller(req, port, options.origins())
  const path = new URL(req.url ?? '/', 'http://x').pathname
  if (path === `${PANEL_API_PREFIX}/state`) {
    if (req.method !== 'GET')
      throw new ClusterError('METHOD_NOT_ALLOWED', 405, `${path} takes GET (Received: ${req.method})`)
    const state: ClusterState = { instances: options.fleet.view(), ...(await options.details()) }
    return [200, state]
  }
  const match = ACTION.exec(path)
  if (match === null && path !== `${PANEL_API_PREFIX}/burst`) {
    throw new ClusterError('NOT_FOUND', 404, `No route ${req.method} ${path.slice(0, 100)}`)
  }
  if (req.method !== 'POST') {
    throw new ClusterError('METHOD_NOT_ALLOWED', 405, `${path} takes POST (Received: ${req.method})`)
  }
  const type = req.headers['content-type'] ?? ''
  if (!/^application\/json\b/i.test(type)) {
    throw new ClusterError(
      'UNSUPPORTED_MEDIA_TYPE',
      415,
      `Content-Type must be application/json (Received: ${JSON.stringify(type)})`,
    )
  }
  if (match === null) return [200, await options.burst()]
  const [, id, action] = match as unknown as [string, string, 'kill' | 'restart']
  let instance: InstanceView
  if (action === 'kill') instance = await options.fleet.kill(id)
  else instance = await options.fleet.restart(id)
  return [action === 'kill' ? 200 : 202, { instance }]
}

export async function startPanelApi(options: PanelApiOptions): Promise<PanelApi> {
  let port = options.port
  const server = createServer((req, res) => {
    // The body is never read: drain it so the connection can be reused.
    req.resume()
    route(req, options, port).then(
      ([status, body]) => send(res, status, body),
      (error: unknown) => {
        if (error instanceof ClusterError) {
          send(res, error.status, { error: { code: error.code, message: error.message } })
        } else {
          send(res, 500, {
            error: {
              code: 'INTERNAL_ERROR',
              message: error instanceof Error ? error.message : String(error),
            },
          })
        }
      },
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => resolve())
  })
  port = (server.address() as AddressInfo).port
  return {
    url: `http://${options.host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
