// Test helpers: a tiny node:http server for the answers the sandbox does not give, a port that is
// certainly closed, a fetch that records what it is asked to send, and a logger that keeps its lines.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { QualtricsCallLog, QualtricsLogger } from '../../src/server/qualtrics'

export interface SeenRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

export interface TestServer {
  url: string
  requests: SeenRequest[]
  close(): Promise<void>
}

/** Starts a server on 127.0.0.1, port 0, answering with `handler`. */
export async function startTestServer(
  handler: (req: SeenRequest, res: ServerResponse) => void,
): Promise<TestServer> {
  const requests: SeenRequest[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }
      requests.push(seen)
      handler(seen, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((error) => (error ? reject(error) : resolve()))
      }),
  }
}

/** Writes a JSON answer. */
export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

/** A port nothing listens on: bound once, then released. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}`
}

/** The fetch of the moment, recording each URL it is asked for. */
export function recordingFetch(): { fetch: typeof fetch; urls: string[] } {
  const urls: string[] = []
  const real = globalThis.fetch
  const wrapped: typeof fetch = (input, init) => {
    urls.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
    return real(input, init)
  }
  return { fetch: wrapped, urls }
}

export interface LogLine {
  level: 'info' | 'warn'
  fields: QualtricsCallLog
  message: string
}

export function memoryLogger(): QualtricsLogger & { lines: LogLine[] } {
  const lines: LogLine[] = []
  return {
    lines,
    info: (fields, message) => lines.push({ level: 'info', fields, message }),
    warn: (fields, message) => lines.push({ level: 'warn', fields, message }),
  }
}

/** Awaits a promise expected to reject and returns the rejection. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    if (error instanceof Error) return error
    throw new TypeError(`rejected with a non-Error: ${String(error)}`)
  }
  throw new TypeError('expected a rejection, but the promise resolved')
}
