// Reading bodies with a size cap and writing answers.

import type { IncomingMessage, ServerResponse } from 'node:http'

export type BodyRead = { ok: true; body: Buffer } | { ok: false; bytes: number }

/** Reads the whole body; past `limit` bytes it keeps draining but reports the body as too large. */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyRead> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let bytes = 0
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length
      if (bytes <= limit) chunks.push(chunk)
    })
    req.on('end', () =>
      resolve(bytes > limit ? { ok: false, bytes } : { ok: true, body: Buffer.concat(chunks) }),
    )
    req.on('error', reject)
  })
}

export function send(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string>,
): void {
  if (res.headersSent || res.destroyed) return
  res.writeHead(status, { ...headers, 'Content-Length': String(Buffer.byteLength(body)) })
  res.end(body)
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  send(res, status, JSON.stringify(body), { 'Content-Type': 'application/json', ...headers })
}
