// A small round-robin HTTP balancer on 127.0.0.1 in front of several proxy instances, as a load balancer
// stands in front of a fleet. Each request is buffered, then sent to the next target in turn:
// - a target that refuses the connection (a killed or not yet started instance) never saw the request,
//   so the next target is tried; only when every target refuses does the client get a 503;
// - a target that took the connection and then broke it may have acted on the request, so the client
//   gets a 502 and decides itself whether to send again (as the browser plugin does: same messageIds).
// Each attempt opens a connection of its own (no keep-alive towards the targets), so "refused" is never
// confused with a pooled socket that died with its instance.
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'

export interface BalancerOptions {
  /** Base URLs of the instances, e.g. `http://127.0.0.1:4001`. May be empty and set later. */
  targets: readonly string[]
}

export interface TargetStats {
  /** Requests that reached this target (answered or not). */
  requests: number
  /** Connections it refused (the request then went to the next target). */
  refused: number
  /** Requests that reached it but got no complete answer (answered 502, or cut off mid-answer). */
  broken: number
}

export interface BalancerStats {
  /** Per target origin (`http://127.0.0.1:<port>`), also for targets no longer in the list. */
  targets: Record<string, TargetStats>
  /** Requests answered 503 because no target took the connection. */
  unavailable: number
}

export interface Balancer {
  /** The balancer's own base URL, `http://127.0.0.1:<port>`. */
  url: string
  /** Replaces the list of targets; requests under way finish where they are. */
  setTargets(targets: readonly string[]): void
  stats(): BalancerStats
  close(): Promise<void>
}

type Attempt =
  { kind: 'answered' } | { kind: 'refused' } | { kind: 'broken'; answerStarted: boolean; reason: string }

function parseTarget(target: string): URL {
  let url: URL
  try {
    url = new URL(target)
  } catch {
    throw new TypeError(`balancer: targets must be http:// URLs (Received: ${JSON.stringify(target)})`)
  }
  if (url.protocol !== 'http:') {
    throw new TypeError(`balancer: targets must be http:// URLs (Received: ${JSON.stringify(target)})`)
  }
  return url
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function forwardedHeaders(req: IncomingMessage, body: Buffer): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ...req.headers, connection: 'close' }
  delete headers['transfer-encoding']
  headers['content-length'] = String(body.length)
  const client = req.socket.remoteAddress ?? ''
  const prior = req.headers['x-forwarded-for']
  headers['x-forwarded-for'] = prior ? `${String(prior)}, ${client}` : client
  return headers
}

/** Sends one buffered request to `target` and pipes its answer to `res`. */
function attempt(target: URL, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<Attempt> {
  return new Promise((resolve) => {
    let connected = false
    let answerStarted = false
    let settled = false
    const finish = (result: Attempt): void => {
      if (!settled) {
        settled = true
        resolve(result)
      }
    }
    const forward = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: forwardedHeaders(req, body),
        agent: false,
      },
      (answer) => {
        answerStarted = true
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders)
        answer.pipe(res)
        answer.on('end', () => finish({ kind: 'answered' }))
        answer.on('error', (error) => finish({ kind: 'broken', answerStarted, reason: error.message }))
        answer.on('aborted', () => finish({ kind: 'broken', answerStarted, reason: 'answer aborted' }))
      },
    )
    forward.on('socket', (socket) => socket.once('connect', () => (connected = true)))
    forward.on('error', (error: NodeJS.ErrnoException) => {
      if (!connected && error.code === 'ECONNREFUSED') finish({ kind: 'refused' })
      else finish({ kind: 'broken', answerStarted, reason: error.message })
    })
    forward.end(body)
  })
}

/** Starts the balancer on 127.0.0.1, port 0. */
export async function startBalancer(options: BalancerOptions): Promise<Balancer> {
  let targets = options.targets.map(parseTarget)
  let next = 0
  const perTarget: Record<string, TargetStats> = {}
  let unavailable = 0
  const statsOf = (target: URL): TargetStats =>
    (perTarget[target.origin] ??= { requests: 0, refused: 0, broken: 0 })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req)
    const order = targets
    const start = next++
    for (let i = 0; i < order.length; i++) {
      const target = order[(start + i) % order.length] as URL
      const stats = statsOf(target)
      const result = await attempt(target, req, body, res)
      if (result.kind === 'refused') {
        stats.refused++
        continue
      }
      stats.requests++
      if (result.kind === 'answered') return
      stats.broken++
      // Headers already went out: the answer can only be cut off, as the instance's was.
      if (result.answerStarted) res.destroy()
      else answer(res, 502, `balancer: ${target.origin} broke the connection: ${result.reason}`)
      return
    }
    unavailable++
    answer(res, 503, `balancer: no target took the connection (${order.length} tried)`)
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent)
        answer(res, 502, `balancer: ${error instanceof Error ? error.message : String(error)}`)
      else res.destroy()
    })
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
  })

  return {
    url: `http://127.0.0.1:${port}`,
    setTargets: (list) => {
      targets = list.map(parseTarget)
    },
    stats: () => ({
      targets: Object.fromEntries(Object.entries(perTarget).map(([url, s]) => [url, { ...s }])),
      unavailable,
    }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

function answer(res: ServerResponse, status: 502 | 503, message: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain', Connection: 'close' }).end(message)
}
