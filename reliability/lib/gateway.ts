// Two small HTTP servers on 127.0.0.1 for the token-misuse checks:
// - a gateway posing as Qualtrics: it forwards every request to the sandbox and records it, and can be
//   told to answer redirects (to another host) instead;
// - an "evil" server that must never be called: it records whatever reaches it.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Recorded {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

export interface RecordingServer {
  url: string
  port: number
  requests: Recorded[]
  close(): Promise<void>
}

export interface Gateway extends RecordingServer {
  /** Answer the next `count` requests whose path matches with a redirect to `location`. */
  redirect(rule: { status: 301 | 302 | 303 | 307 | 308; location: string; path: RegExp; count: number }): void
  /** Redirects answered so far. */
  redirected: number
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
  })
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

function readBody(req: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

/** A server that answers 200 `{}` to anything and remembers every request. */
export async function startEvilServer(): Promise<RecordingServer> {
  const requests: Recorded[] = []
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: body.toString(),
      })
      res
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end('{"result":{},"meta":{"httpStatus":"200 - OK"}}')
    })
  })
  const port = await listen(server)
  return { url: `http://127.0.0.1:${port}`, port, requests, close: () => closeServer(server) }
}

/** A pass-through to `target` (the sandbox) that records every request and can answer redirects. */
export async function startGateway(target: string): Promise<Gateway> {
  const upstream = new URL(target)
  const requests: Recorded[] = []
  let rule: { status: number; location: string; path: RegExp; count: number } | undefined
  const gateway: Gateway = {
    url: '',
    port: 0,
    requests,
    redirected: 0,
    redirect: (r) => {
      rule = { ...r }
    },
    close: () => closeServer(server),
  }
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const url = req.url ?? '/'
      requests.push({ method: req.method ?? '', url, headers: req.headers, body: body.toString() })
      if (rule && rule.count > 0 && rule.path.test(url)) {
        rule.count--
        gateway.redirected++
        res.writeHead(rule.status, { Location: rule.location, 'Content-Type': 'text/plain' }).end('moved')
        return
      }
      const headers = { ...req.headers, host: upstream.host }
      const forward = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: url, headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(res)
        },
      )
      forward.on('error', () => res.destroy())
      forward.end(body)
    })
  })
  const port = await listen(server)
  gateway.url = `http://127.0.0.1:${port}`
  gateway.port = port
  return gateway
}
