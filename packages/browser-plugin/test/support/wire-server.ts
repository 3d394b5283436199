// A small node:http server that speaks the plugin ⇄ proxy wire contract (ARCHITECTURE.md): settings
// with an ETag, and POST /v1/batch answering per-item results, deduplicating by messageId + mapping.
// Faults are injected per request, so the plugin's retry and unload paths can be driven exactly. The
// real proxy is used for the end-to-end tests; this one is for the faults the proxy cannot be asked for.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { BatchItem, BatchRequest, ItemResult, PublicSettings } from '@qualtrics-relay/core'

export interface ReceivedBatch {
  contentType: string
  body: BatchRequest
}

type FaultAnswer =
  | { status: number; headers?: Record<string, string>; body?: unknown }
  | { reject: (item: BatchItem) => ItemResult['error'] | undefined }
  | undefined

/** What to answer to one batch request (it may wait); undefined answers normally. */
export type Fault = (batch: ReceivedBatch) => FaultAnswer | Promise<FaultAnswer>

export interface WireServer {
  url: string
  settings: PublicSettings
  /** Every batch request, in order, including refused ones. */
  batches: ReceivedBatch[]
  /** Items stored (accepted once), in order. */
  stored: BatchItem[]
  /** Answer counts by item status. */
  counts: Record<ItemResult['status'], number>
  settingsRequests: { ifNoneMatch: string | undefined; status: number }[]
  fault: Fault | undefined
  /** Stops listening (the port then refuses connections); `start()` listens on the same port again. */
  stop(): Promise<void>
  start(): Promise<void>
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = ''
  for await (const chunk of req) text += chunk
  return text
}

export async function startWireServer(settings: PublicSettings): Promise<WireServer> {
  let server: Server | undefined
  let port = 0
  const keys = new Set<string>()
  const etag = () => `"v${JSON.stringify(state.settings).length}"`

  const state: WireServer = {
    url: '',
    settings,
    batches: [],
    stored: [],
    counts: { accepted: 0, duplicate: 0, rejected: 0 },
    settingsRequests: [],
    fault: undefined,
    stop: () =>
      new Promise<void>((resolve) => {
        server?.close(() => resolve())
        server?.closeAllConnections()
      }),
    start: () => listen(),
  }

  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((req, res) => {
        void handle(req).then(({ status, headers = {}, body }) => {
          res.writeHead(status, {
            ...headers,
            ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
          })
          res.end(body === undefined ? undefined : JSON.stringify(body))
        })
      })
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as AddressInfo).port
        state.url = `http://127.0.0.1:${port}`
        resolve()
      })
    })

  async function handle(
    req: IncomingMessage,
  ): Promise<{ status: number; headers?: Record<string, string>; body?: unknown }> {
    const url = new URL(req.url ?? '/', 'http://x')
    if (req.method === 'GET' && url.pathname === '/v1/settings') {
      const ifNoneMatch = req.headers['if-none-match']
      const status =
        url.searchParams.get('writeKey') !== state.settings.writeKey
          ? 404
          : ifNoneMatch === etag()
            ? 304
            : 200
      state.settingsRequests.push({ ifNoneMatch, status })
      if (status === 404)
        return { status, body: { error: { code: 'UNKNOWN_WRITE_KEY', message: 'unknown write key' } } }
      return { status, headers: { ETag: etag() }, body: status === 200 ? state.settings : undefined }
    }
    if (req.method === 'POST' && url.pathname === '/v1/batch') {
      const batch = {
        contentType: req.headers['content-type'] ?? '',
        body: JSON.parse(await readBody(req)) as BatchRequest,
      }
      state.batches.push(batch)
      const fault = await state.fault?.(batch)
      if (fault && 'status' in fault) return fault
      const results = batch.body.items.map((item): ItemResult => {
        const { messageId, mapping } = item
        const error = fault?.reject(item)
        const key = `${messageId} ${mapping}`
        const status = error ? 'rejected' : keys.has(key) ? 'duplicate' : 'accepted'
        state.counts[status]++
        if (status === 'accepted') {
          keys.add(key)
          state.stored.push(item)
        }
        return error ? { messageId, mapping, status, error } : { messageId, mapping, status }
      })
      return { status: 202, body: { results } }
    }
    return { status: 404, body: { error: { code: 'NOT_FOUND', message: 'not found' } } }
  }

  await listen()
  return state
}
