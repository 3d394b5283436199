// The proxy under test: its configuration, mapped items as the browser plugin sends them, and the HTTP
// calls a plugin or an operator makes. Every address is 127.0.0.1.
import type { MappingInput } from '@qualtrics-relay/core'
import type { RunningSandbox } from '@qualtrics-relay/sandbox'

export const SITE = 'https://shop.example'
export const WRITE_KEY = 'wk_reliability'
export const ADMIN_TOKEN = 'reliability-admin-token-0123456789'

/** The ids a configuration needs from the sandbox (or a gateway in front of it). */
export interface Target {
  directoryId: string
  mailingListId: string
  workflowUrl: string
}

export function targetOf(sandbox: RunningSandbox): Target {
  return {
    directoryId: sandbox.directoryId,
    mailingListId: sandbox.mailingListId,
    workflowUrl: sandbox.workflowUrl,
  }
}

/** The three mappings (one per action) of the reliability write key. */
export function mappingsFor(target: Target): MappingInput[] {
  return [
    { id: 'contact', action: 'addContactToXmd', fields: { directoryId: target.directoryId } },
    {
      id: 'purchase',
      action: 'upsertContactTransaction',
      fields: { directoryId: target.directoryId, mailingListId: target.mailingListId },
    },
    {
      id: 'feedback',
      action: 'triggerXflowWorkflow',
      trigger: 'type = "track" and event = "Feedback Requested"',
      fields: { workflowUrl: target.workflowUrl },
    },
  ]
}

/** Delivery tuned so that faults recover within seconds (the defaults wait minutes). */
export const QUICK_DELIVERY = {
  transactionLingerMs: 20,
  retryBaseMs: 50,
  retryMaxMs: 500,
  pollIntervalMs: 50,
  rateLimitRecoveryMs: 2_000,
  requestsPerMinute: 120_000,
  burst: 200,
  requestTimeoutMs: 2_000,
  leaseMs: 1_500,
  drainMs: 1_000,
  circuitProbeBaseMs: 200,
  circuitProbeMaxMs: 1_000,
}

export interface ConfigOptions {
  storagePath?: string
  /** The whole storage section (e.g. `{ url, schema }` for PostgreSQL); wins over `storagePath`. */
  storage?: Record<string, unknown>
  port?: number
  delivery?: Record<string, unknown>
  writeKeys?: Record<string, unknown>
  rateLimits?: Record<string, unknown>
  logLevel?: string
}

/** The proxy's config file (as an object) for one write key with the three mappings. */
export function relayConfig(target: Target, options: ConfigOptions = {}): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port: options.port ?? 0 },
    storage: options.storage ?? { path: options.storagePath ?? ':memory:' },
    rateLimits: options.rateLimits ?? { perIp: false, perWriteKey: false },
    delivery: options.delivery ?? QUICK_DELIVERY,
    readiness: { cacheMs: 60_000 },
    logLevel: options.logLevel ?? 'info',
    writeKeys: options.writeKeys ?? {
      [WRITE_KEY]: { name: 'Reliability', origins: [SITE], mappings: mappingsFor(target) },
    },
  }
}

export type Kind = 'contact' | 'purchase' | 'workflow'

export interface BatchItem {
  messageId: string
  mapping: string
  action: string
  payload: Record<string, unknown>
  identity?: { userId: string; signature: string }
}

/** A contact item; `extRef` names the contact. */
export function contactItem(target: Target, messageId: string, extRef: string): BatchItem {
  return {
    messageId,
    mapping: 'contact',
    action: 'addContactToXmd',
    payload: {
      directoryId: target.directoryId,
      extRef,
      email: `${extRef}@example.com`,
      firstName: 'Rel',
      embeddedData: { messageId },
    },
  }
}

/** A transaction item; its data carries the messageId so the sandbox's copy can be counted. */
export function purchaseItem(target: Target, messageId: string, extRef: string): BatchItem {
  return {
    messageId,
    mapping: 'purchase',
    action: 'upsertContactTransaction',
    payload: {
      directoryId: target.directoryId,
      mailingListId: target.mailingListId,
      extRef,
      email: `${extRef}@example.com`,
      transactionDate: '2024-05-01T10:00:00Z',
      transactionData: { messageId, total: 42 },
    },
  }
}

/** A workflow start; the event payload carries the messageId. */
export function workflowItem(target: Target, messageId: string): BatchItem {
  return {
    messageId,
    mapping: 'feedback',
    action: 'triggerXflowWorkflow',
    payload: { workflowUrl: target.workflowUrl, eventPayload: { event: 'Feedback Requested', messageId } },
  }
}

export function itemOf(kind: Kind, target: Target, messageId: string, extRef: string): BatchItem {
  if (kind === 'contact') return contactItem(target, messageId, extRef)
  if (kind === 'purchase') return purchaseItem(target, messageId, extRef)
  return workflowItem(target, messageId)
}

export interface Answer {
  status: number
  headers: Headers
  text: string
  json: unknown
}

/** One HTTP exchange; the body is read whole. Throws on network errors and on timeout. */
export async function request(url: string, init: RequestInit = {}, timeoutMs = 10_000): Promise<Answer> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), ...init })
  const text = await response.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: response.status, headers: response.headers, text, json }
}

export interface ItemOutcome {
  messageId: string
  mapping: string
  status: 'accepted' | 'duplicate' | 'rejected'
  error?: { code: string; message: string }
}

/** POST /v1/batch as the plugin sends it. */
export function postBatch(
  base: string,
  items: readonly BatchItem[],
  options: { writeKey?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Answer> {
  return request(
    `${base}/v1/batch`,
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: SITE, ...options.headers },
      body: JSON.stringify({ writeKey: options.writeKey ?? WRITE_KEY, items }),
    },
    options.timeoutMs,
  )
}

export function resultsOf(answer: Answer): ItemOutcome[] {
  return (answer.json as { results?: ItemOutcome[] } | undefined)?.results ?? []
}

/** The proxy's Prometheus text as name{labels} → value. */
export async function readMetrics(base: string): Promise<Map<string, number>> {
  const answer = await request(`${base}/metrics`)
  const values = new Map<string, number>()
  for (const line of answer.text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue
    const at = line.lastIndexOf(' ')
    values.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return values
}

/** Items the proxy still has to deliver (pending, retrying or leased). */
export async function queueDepth(base: string): Promise<number> {
  const metrics = await readMetrics(base)
  return (
    (metrics.get('relay_queue_depth{state="pending"}') ?? 0) +
    (metrics.get('relay_queue_depth{state="leased"}') ?? 0)
  )
}

export interface DeadLetter {
  id: string
  messageId: string
  mappingId: string
  lastError?: { code: string; message: string; status?: number }
}

export async function listDeadLetters(base: string): Promise<DeadLetter[]> {
  const out: DeadLetter[] = []
  let after: string | undefined
  for (let page = 0; page < 100; page++) {
    const query = new URLSearchParams({ limit: '1000', ...(after === undefined ? {} : { after }) })
    const answer = await request(`${base}/admin/dead-letters?${query}`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    })
    if (answer.status !== 200) throw new Error(`GET /admin/dead-letters answered ${answer.status}`)
    const body = answer.json as { deadLetters: DeadLetter[]; next?: string }
    out.push(...body.deadLetters)
    if (body.next === undefined) return out
    after = body.next
  }
  return out
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export { freeLoopbackPort as freePort } from '../../test-support/free-port'

/** Polls `check` every `everyMs` until it returns something other than undefined; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  everyMs = 50,
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
    if (Date.now() > until) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${String(last)})` : ''}`,
      )
    }
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
