// Test helpers: a real proxy (startServer) on 127.0.0.1:0 delivering to a real sandbox on port 0, with
// its log lines captured, and a few small HTTP helpers.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { parseConfig } from '../src/config'
import { startServer, type RunningServer } from '../src/server'

export const SITE = 'https://shop.example'
export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789'
export const SIGNING_SECRET = 'signing-secret-for-tests-0123456789'

/** Quick retries and batching, so faults recover within a test. */
export const FAST_DELIVERY = {
  transactionLingerMs: 5,
  retryBaseMs: 10,
  retryMaxMs: 200,
  pollIntervalMs: 20,
  rateLimitRecoveryMs: 200,
  requestsPerMinute: 60_000,
  burst: 200,
  requestTimeoutMs: 1_000,
  drainMs: 2_000,
  circuitProbeBaseMs: 50,
  circuitProbeMaxMs: 500,
}

export interface LogSink {
  lines: string[]
  write(line: string): void
  text(): string
}

export function createLogSink(): LogSink {
  const lines: string[] = []
  return { lines, write: (line) => void lines.push(line), text: () => lines.join('') }
}

export interface Harness {
  proxy: RunningServer
  sandbox: RunningSandbox
  logs: LogSink
  url: string
  close(): Promise<void>
}

export interface HarnessOptions {
  /** Extra config merged over the test config (shallow per top-level key). */
  config?: Record<string, unknown>
  /** Write keys; default one key `wk_test` for SITE with all three actions. */
  writeKeys?: (sandbox: RunningSandbox) => Record<string, unknown>
  /** An existing sandbox (e.g. to restart the proxy against the same one); default: a new one. */
  sandbox?: RunningSandbox
  /** SQLite file; default `:memory:`. */
  storagePath?: string
  env?: Record<string, string>
}

export function defaultWriteKeys(sandbox: RunningSandbox): Record<string, unknown> {
  return {
    wk_test: {
      name: 'Test site',
      origins: [SITE],
      mappings: mappingsFor(sandbox),
    },
  }
}

export function mappingsFor(sandbox: RunningSandbox): unknown[] {
  return [
    { id: 'contact', action: 'addContactToXmd', fields: { directoryId: sandbox.directoryId } },
    {
      id: 'purchase',
      action: 'upsertContactTransaction',
      fields: { directoryId: sandbox.directoryId, mailingListId: sandbox.mailingListId },
    },
    {
      id: 'feedback',
      action: 'triggerXflowWorkflow',
      trigger: 'type = "track" and event = "Feedback Requested"',
      fields: { workflowUrl: sandbox.workflowUrl },
    },
  ]
}

/**
 * A proxy in "real" mode pointed at a sandbox through QUALTRICS_BASE_URL, so a test can restart the
 * proxy against the same sandbox and inspect it.
 */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const ownSandbox = options.sandbox === undefined
  const sandbox = options.sandbox ?? (await startSandbox({ port: 0, host: '127.0.0.1' }))
  const logs = createLogSink()
  const file = {
    server: { port: 0, host: '127.0.0.1' },
    storage: { path: options.storagePath ?? ':memory:' },
    delivery: FAST_DELIVERY,
    rateLimits: { perIp: false, perWriteKey: false },
    readiness: { cacheMs: 1000 },
    writeKeys: (options.writeKeys ?? defaultWriteKeys)(sandbox),
    ...options.config,
  }
  const env = {
    QUALTRICS_API_TOKEN: sandbox.token,
    QUALTRICS_BASE_URL: sandbox.url,
    RELAY_ADMIN_TOKEN: ADMIN_TOKEN,
    SIGNING_SECRET,
    ...options.env,
  }
  const config = parseConfig(env, JSON.stringify(file), 'test config')
  let proxy: RunningServer
  try {
    proxy = await startServer(config, { logDestination: logs, processMetrics: false, closeGraceMs: 2_000 })
  } catch (error) {
    if (ownSandbox) await sandbox.close()
    throw error
  }
  return {
    proxy,
    sandbox,
    logs,
    url: proxy.url,
    async close() {
      await proxy.close()
      if (ownSandbox) await sandbox.close()
    },
  }
}

/** A temporary folder removed by the returned function. */
export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'relay-proxy-'))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

export const messageId = () => `msg-${randomUUID()}`

export interface Answer {
  status: number
  headers: Headers
  text: string
  json: unknown
}

export async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init)
  const text = await response.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: response.status, headers: response.headers, text, json }
}

export function postBatch(
  base: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return request(`${base}/v1/batch`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: SITE, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

export function contactItem(sandbox: RunningSandbox, id = messageId(), extra: Record<string, unknown> = {}) {
  return {
    messageId: id,
    mapping: 'contact',
    action: 'addContactToXmd',
    payload: {
      directoryId: sandbox.directoryId,
      extRef: 'user-1',
      email: 'ada@example.com',
      firstName: 'Ada',
      ...extra,
    },
  }
}

export function purchaseItem(sandbox: RunningSandbox, id = messageId(), extra: Record<string, unknown> = {}) {
  return {
    messageId: id,
    mapping: 'purchase',
    action: 'upsertContactTransaction',
    payload: {
      directoryId: sandbox.directoryId,
      mailingListId: sandbox.mailingListId,
      extRef: 'user-1',
      email: 'ada@example.com',
      transactionDate: '2024-05-01T10:00:00Z',
      transactionData: { orderId: 'o-1', total: 42 },
      ...extra,
    },
  }
}

export function feedbackItem(sandbox: RunningSandbox, id = messageId(), extra: Record<string, unknown> = {}) {
  return {
    messageId: id,
    mapping: 'feedback',
    action: 'triggerXflowWorkflow',
    payload: {
      workflowUrl: sandbox.workflowUrl,
      eventPayload: { event: 'Feedback Requested', userId: 'user-1' },
      ...extra,
    },
  }
}

/** Polls `check` until it returns a value other than undefined (or throws after `timeoutMs`). */
export async function waitFor<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const until = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > until) throw new Error(`waitFor timed out${last ? `: ${String(last)}` : ''}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Waits until every mapping of `id` is delivered (via GET /v1/messages/:id) and returns the status. */
export async function delivered(base: string, id: string, writeKey = 'wk_test', timeoutMs = 15_000) {
  return waitFor(async () => {
    const answer = await request(`${base}/v1/messages/${encodeURIComponent(id)}?writeKey=${writeKey}`)
    if (answer.status !== 200) return undefined
    const status = answer.json as { items: { state: string }[] }
    return status.items.every((i) => i.state === 'delivered') ? status : undefined
  }, timeoutMs)
}
