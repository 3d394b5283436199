// Test helpers: start a sandbox for a test file and talk to it with fetch (loopback only).

import { request as httpRequest } from 'node:http'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { startSandbox, type RunningSandbox, type StartSandboxOptions } from '../src/index'

/** Parsed JSON bodies are read freely in assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any

export interface Reply {
  status: number
  headers: Headers
  text: string
  /** Parsed body (undefined when it is not JSON). */
  json: Json
}

export interface CallOptions {
  body?: unknown
  rawBody?: string
  token?: string | null
  headers?: Record<string, string>
}

/** Calls the sandbox; the token defaults to the sandbox's own. `token: null` sends none. */
export async function call(
  sb: RunningSandbox,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers }
  const token = options.token === undefined ? sb.token : options.token
  if (token !== null) headers['X-API-TOKEN'] = token
  let body: string | undefined
  if (options.rawBody !== undefined) body = options.rawBody
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body)
    headers['Content-Type'] = 'application/json'
  }
  const url = path.startsWith('http') ? path : `${sb.url}${path}`
  const res = await fetch(url, { method, headers, ...(body === undefined ? {} : { body }) })
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json }
}

/** A request with a chosen Host header (fetch does not allow setting it). */
export function rawRequest(
  sb: RunningSandbox,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: Json }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${sb.url}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

export const dir = (sb: RunningSandbox, rest = ''): string => `/API/v3/directories/${sb.directoryId}${rest}`

/** Starts sandboxes on demand and closes all of them after the file. `reset()` between tests is up to the caller. */
export function useSandboxes(): (options?: StartSandboxOptions) => Promise<RunningSandbox> {
  const started: RunningSandbox[] = []
  afterAll(async () => {
    await Promise.all(started.map((sb) => sb.close()))
  })
  return async (options = {}) => {
    const sb = await startSandbox({ randomSeed: 42, ...options })
    started.push(sb)
    return sb
  }
}

/** One sandbox for a test file (started before the tests, reset after each one, closed at the end). */
export function setupSandbox(options: StartSandboxOptions = {}): { readonly sb: RunningSandbox } {
  const holder: { sb?: RunningSandbox } = {}
  beforeAll(async () => {
    holder.sb = await startSandbox({ randomSeed: 42, ...options })
  })
  afterEach(() => holder.sb?.reset())
  afterAll(async () => {
    await holder.sb?.close()
  })
  return {
    get sb() {
      if (!holder.sb) throw new TypeError('the sandbox is not started yet')
      return holder.sb
    },
  }
}
