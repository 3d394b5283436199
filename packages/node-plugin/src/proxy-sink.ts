// Proxy mode: mapped items go in small batches to the proxy's `POST /v1/batch`, which answers only once
// they are stored; the proxy holds the token and does the delivery. Batches are retried on network errors,
// timeouts, 408, 429 and 5xx (the proxy deduplicates by messageId and mapping, so a retried batch never
// delivers twice), each request has its own timeout, and nothing here can wait forever.
import { createHmac } from 'node:crypto'
import type { BatchItem, BatchRequest, DeliveryItem, MessageStatus } from '@qualtrics-relay/core'
import { describeValue } from '@qualtrics-relay/core'
import { ItemDeliveryError, ProxyError, type MappingFailureDetail } from './errors'
import type { ResolvedProxyOptions } from './options'
import { parseProxySettings, type ProxySettings } from './settings'
import type { PreparedMappings, Sink, SubmitOptions } from './sink'
import { backoffMs, sleep } from './timeout'

/** Keeps a batch body well under the proxy's default 100 KB limit. */
const MAX_BATCH_BYTES = 90 * 1024
/** Batches in flight at once. */
const MAX_CONCURRENT_POSTS = 4
/** Longest `Retry-After` honoured before giving up on a batch. */
const MAX_RETRY_AFTER_MS = 30_000

interface Entry {
  item: BatchItem
  action: DeliveryItem['action']
  bytes: number
  queuedAt: number
  settle: (failure: MappingFailureDetail | undefined) => void
}

interface Answer {
  status: number
  headers: Headers
  body: unknown
}

export function createProxySink(config: ResolvedProxyOptions): Sink {
  const base = config.proxyUrl
  const queue: Entry[] = []
  const posts = new Set<Promise<void>>()
  let postingItems = 0
  let lingerTimer: ReturnType<typeof setTimeout> | undefined
  let closed = false

  // ---- settings ---------------------------------------------------------------------------------------
  let settings: (ProxySettings & { etag: string | undefined; fetchedAt: number }) | undefined
  let loading: Promise<ProxySettings> | undefined

  function loadSettings(): Promise<ProxySettings> {
    loading ??= fetchSettings().finally(() => {
      loading = undefined
    })
    return loading
  }

  async function fetchSettings(): Promise<ProxySettings> {
    const url = `${base}/v1/settings?writeKey=${encodeURIComponent(config.writeKey)}`
    const headers: Record<string, string> = { accept: 'application/json' }
    if (settings?.etag) headers['if-none-match'] = settings.etag
    const answer = await withRetries('GET /v1/settings', () => request('GET', url, undefined, headers))
    if (answer.status === 304 && settings) {
      settings.fetchedAt = Date.now()
      return settings
    }
    if (answer.status !== 200) throw refused('GET /v1/settings', answer)
    const parsed = parseProxySettings(answer.body)
    settings = { ...parsed, etag: answer.headers.get('etag') ?? undefined, fetchedAt: Date.now() }
    return settings
  }

  async function prepare(): Promise<PreparedMappings> {
    if (config.mappings) {
      return { mappings: config.mappings, check: { workflowOrigins: config.workflowOrigins ?? [] } }
    }
    let current: ProxySettings | undefined = settings
    if (!current) current = await loadSettings()
    else if (Date.now() - (settings?.fetchedAt ?? 0) >= config.settingsMaxAgeMs) {
      // Stale: use what we have and revalidate in the background.
      loadSettings().catch(() => {
        // The next stale read tries again.
      })
    }
    return {
      mappings: current.mappings,
      check: { workflowOrigins: config.workflowOrigins ?? current.workflowOrigins },
    }
  }

  // ---- batching ---------------------------------------------------------------------------------------
  function submit(items: DeliveryItem[], options: SubmitOptions): Promise<MappingFailureDetail[]> {
    if (closed) {
      const error = new ProxyError('DELIVERY_FAILED', 'The Qualtrics plugin is closed', { retryable: false })
      return Promise.resolve(
        items.map((i) => ({ messageId: i.messageId, mappingId: i.mappingId, action: i.action, error })),
      )
    }
    const identity =
      config.identitySecret !== undefined && options.userId
        ? {
            userId: options.userId,
            signature: createHmac('sha256', config.identitySecret)
              .update(options.userId, 'utf8')
              .digest('hex'),
          }
        : undefined
    const accepted = items.map(
      (item) =>
        new Promise<MappingFailureDetail | undefined>((settle) => {
          const wire: BatchItem = {
            messageId: item.messageId,
            mapping: item.mappingId,
            action: item.action,
            payload: item.payload as unknown as Record<string, unknown>,
          }
          if (identity) wire.identity = identity
          queue.push({
            item: wire,
            action: item.action,
            bytes: JSON.stringify(wire).length,
            queuedAt: Date.now(),
            settle,
          })
        }),
    )
    pump(false)
    return Promise.all(accepted).then(async (results) => {
      const failures = results.filter((f): f is MappingFailureDetail => f !== undefined)
      if (!options.wait) return failures
      const ok = items.filter((i) => !failures.some((f) => f.mappingId === i.mappingId))
      return [...failures, ...(await waitForDelivery(ok, options.signal))]
    })
  }

  /** Sends what is due: full batches always; everything when `force` (linger over, flush). */
  function pump(force: boolean): void {
    while (posts.size < MAX_CONCURRENT_POSTS && queue.length > 0) {
      const due =
        force || queue.length >= config.batchSize || Date.now() - (queue[0]?.queuedAt ?? 0) >= config.lingerMs
      if (!due) break
      let bytes = 0
      let count = 0
      for (const entry of queue) {
        if (count >= config.batchSize || (count > 0 && bytes + entry.bytes > MAX_BATCH_BYTES)) break
        bytes += entry.bytes
        count++
      }
      const batch = queue.splice(0, count)
      postingItems += batch.length
      const post = postBatch(batch).finally(() => {
        postingItems -= batch.length
        posts.delete(post)
        pump(false)
      })
      posts.add(post)
    }
    scheduleLinger()
  }

  function scheduleLinger(): void {
    if (lingerTimer !== undefined || queue.length === 0) return
    const wait = Math.max(0, (queue[0]?.queuedAt ?? 0) + config.lingerMs - Date.now())
    // Ref'ed: a queued item must be sent before the process may end.
    lingerTimer = setTimeout(() => {
      lingerTimer = undefined
      pump(true)
    }, wait)
  }

  async function postBatch(batch: Entry[]): Promise<void> {
    const body: BatchRequest = {
      writeKey: config.writeKey,
      sentAt: new Date().toISOString(),
      items: batch.map((e) => e.item),
    }
    let failure: ProxyError | undefined
    let issues: { path: string; message: string }[] = []
    let results = new Map<string, { status: string; error?: { code: string; message: string } }>()
    try {
      const answer = await withRetries('POST /v1/batch', () => request('POST', `${base}/v1/batch`, body))
      if (answer.status !== 200 && answer.status !== 202) {
        issues = readIssues(answer.body)
        throw refused('POST /v1/batch', answer)
      }
      results = readResults(answer.body)
    } catch (error) {
      failure =
        error instanceof ProxyError
          ? error
          : new ProxyError('DELIVERY_FAILED', `Posting to the proxy failed: ${String(error)}`, {
              retryable: true,
              cause: error,
            })
    }
    batch.forEach((entry, index) => {
      const { messageId, mapping: mappingId } = entry.item
      const detail = (error: MappingFailureDetail['error']) => ({
        messageId,
        mappingId,
        action: entry.action,
        error,
      })
      if (failure) {
        // A refused batch lists each item's problems as `items.<n>.<field>`: give each item its own.
        const prefix = `items.${index}`
        const own = issues.filter((i) => i.path === prefix || i.path.startsWith(`${prefix}.`))
        if (own.length === 0) return entry.settle(detail(failure))
        const lines = own
          .map((i) => `\n  - ${i.path.slice(prefix.length + 1) || '(item)'}: ${i.message}`)
          .join('')
        return entry.settle(
          detail(
            new ProxyError('DELIVERY_FAILED', `${failure.message}${lines}`, {
              retryable: failure.retryable,
              ...(failure.status === undefined ? {} : { status: failure.status }),
            }),
          ),
        )
      }
      const result = results.get(key(messageId, mappingId))
      if (result === undefined) {
        entry.settle(
          detail(
            new ProxyError('DELIVERY_FAILED', 'The proxy answered without a result for this item', {
              retryable: true,
            }),
          ),
        )
      } else if (result.status === 'accepted' || result.status === 'duplicate') {
        entry.settle(undefined)
      } else {
        const code = result.error?.code ?? 'REJECTED'
        const message = result.error?.message ?? 'no reason given'
        entry.settle(
          detail(
            new ItemDeliveryError(`The proxy rejected the item: ${code}: ${message}`, code, {
              status: 400,
              retryable: false,
            }),
          ),
        )
      }
    })
  }

  function readIssues(body: unknown): { path: string; message: string }[] {
    const issues = (body as { error?: { issues?: unknown } } | undefined)?.error?.issues
    if (!Array.isArray(issues)) return []
    return issues.filter(
      (i): i is { path: string; message: string } =>
        typeof i === 'object' &&
        i !== null &&
        typeof (i as { path?: unknown }).path === 'string' &&
        typeof (i as { message?: unknown }).message === 'string',
    )
  }

  function readResults(
    body: unknown,
  ): Map<string, { status: string; error?: { code: string; message: string } }> {
    const map = new Map<string, { status: string; error?: { code: string; message: string } }>()
    const results =
      typeof body === 'object' && body !== null ? (body as { results?: unknown }).results : undefined
    if (!Array.isArray(results)) {
      throw new ProxyError(
        'DELIVERY_FAILED',
        `The proxy answered POST /v1/batch without a results list (Received: ${describeValue(body)})`,
        {
          retryable: true,
        },
      )
    }
    for (const r of results as unknown[]) {
      if (typeof r !== 'object' || r === null) continue
      const { messageId, mapping, status, error } = r as Record<string, unknown>
      if (typeof messageId !== 'string' || typeof mapping !== 'string' || typeof status !== 'string') continue
      const entry: { status: string; error?: { code: string; message: string } } = { status }
      if (typeof error === 'object' && error !== null) {
        const e = error as Record<string, unknown>
        entry.error = {
          code: typeof e.code === 'string' ? e.code : 'REJECTED',
          message: typeof e.message === 'string' ? e.message : 'no reason given',
        }
      }
      map.set(key(messageId, mapping), entry)
    }
    return map
  }

  // ---- waiting for delivery ---------------------------------------------------------------------------
  async function waitForDelivery(
    items: DeliveryItem[],
    signal: AbortSignal,
  ): Promise<MappingFailureDetail[]> {
    const byMessage = new Map<string, DeliveryItem[]>()
    for (const item of items) byMessage.set(item.messageId, [...(byMessage.get(item.messageId) ?? []), item])
    const failures: MappingFailureDetail[] = []
    for (const [messageId, mine] of byMessage) {
      const url = `${base}/v1/messages/${encodeURIComponent(messageId)}?writeKey=${encodeURIComponent(config.writeKey)}`
      for (let round = 1; !signal.aborted; round++) {
        const answer = await request('GET', url).catch(() => undefined)
        const status = answer?.status === 200 ? (answer.body as MessageStatus) : undefined
        const states = mine.map((item) => status?.items?.find((s) => s.mapping === item.mappingId))
        if (states.every((s) => s !== undefined && (s.state === 'delivered' || s.state === 'dead'))) {
          mine.forEach((item, index) => {
            const s = states[index]
            if (s?.state !== 'dead') return
            failures.push({
              messageId,
              mappingId: item.mappingId,
              action: item.action,
              error: new ItemDeliveryError(
                `Qualtrics did not take the item after ${s.attempts} attempts: ${s.lastError ?? 'no reason given'}`,
                'DEAD_LETTER',
              ),
            })
          })
          break
        }
        await sleep(Math.min(1_000, 50 * round), { ref: false, signal })
      }
    }
    return failures
  }

  // ---- HTTP -------------------------------------------------------------------------------------------
  async function request(
    method: 'GET' | 'POST',
    url: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ): Promise<Answer> {
    const fetchImpl = config.fetch ?? globalThis.fetch
    const path = `${method} ${new URL(url).pathname}`
    const headers: Record<string, string> = { accept: 'application/json', ...extra }
    const init: RequestInit = { method, headers, signal: AbortSignal.timeout(config.requestTimeoutMs) }
    if (body !== undefined) {
      headers['content-type'] = 'application/json'
      init.body = JSON.stringify(body)
    }
    let response: Response
    let text: string
    try {
      response = await fetchImpl(url, init)
      text = await response.text()
    } catch (error) {
      const timedOut =
        error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')
      throw timedOut
        ? new ProxyError('TIMEOUT', `The proxy did not answer ${path} within ${config.requestTimeoutMs} ms`, {
            retryable: true,
          })
        : new ProxyError(
            'NETWORK_ERROR',
            `Could not reach the proxy for ${path} at ${new URL(url).origin}: ${reason(error)}`,
            {
              retryable: true,
              cause: error,
            },
          )
    }
    let parsed: unknown = undefined
    if (text !== '') {
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = undefined
      }
    }
    return { status: response.status, headers: response.headers, body: parsed }
  }

  /** Retries network errors, timeouts, 408, 429 and 5xx up to `maxAttempts`; returns other answers. */
  async function withRetries(what: string, send: () => Promise<Answer>): Promise<Answer> {
    for (let attempt = 1; ; attempt++) {
      let retryAfter: number | undefined
      try {
        const answer = await send()
        if (!isRetryable(answer.status) || attempt >= config.maxAttempts) return answer
        retryAfter = parseRetryAfter(answer.headers.get('retry-after'))
        if (retryAfter !== undefined && retryAfter > MAX_RETRY_AFTER_MS) return answer
      } catch (error) {
        if (!(error instanceof ProxyError) || !error.retryable || attempt >= config.maxAttempts) throw error
      }
      config.logger?.warn({ what, attempt }, 'qualtrics proxy call retried')
      await sleep(retryAfter ?? backoffMs(attempt))
    }
  }

  function refused(what: string, answer: Answer): ProxyError {
    const error = (answer.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error
    const code = typeof error?.code === 'string' ? error.code : undefined
    const message = typeof error?.message === 'string' ? error.message : undefined
    return new ProxyError(
      'DELIVERY_FAILED',
      `The proxy answered ${answer.status} to ${what}${code ? `: ${code}` : ''}${message ? `: ${message}` : ''}`,
      { status: answer.status, retryable: isRetryable(answer.status) },
    )
  }

  // ---- flush and close --------------------------------------------------------------------------------
  async function flush(signal: AbortSignal): Promise<void> {
    const aborted = new Promise<void>((resolve) => {
      if (signal.aborted) resolve()
      signal.addEventListener('abort', () => resolve(), { once: true })
    })
    while (!signal.aborted && (queue.length > 0 || posts.size > 0)) {
      pump(true)
      await Promise.race([Promise.all([...posts]), aborted])
    }
  }

  return {
    prepare,
    submit,
    flush,
    async close(signal) {
      try {
        await flush(signal)
      } finally {
        closed = true
        clearTimeout(lingerTimer)
        lingerTimer = undefined
        // Whatever could not be sent in time is reported on its event now, not left waiting.
        const error = new ProxyError(
          'DELIVERY_FAILED',
          'The Qualtrics plugin was closed before this item was sent',
          {
            retryable: true,
          },
        )
        for (const entry of queue.splice(0)) {
          entry.settle({
            messageId: entry.item.messageId,
            mappingId: entry.item.mapping,
            action: entry.action,
            error,
          })
        }
      }
    },
    async pendingCount() {
      return queue.length + postingItems
    },
  }
}

const key = (messageId: string, mappingId: string) => `${messageId}\u0000${mappingId}`

function isRetryable(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501)
}

function parseRetryAfter(header: string | null): number | undefined {
  if (header === null) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const date = Date.parse(header)
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now())
}

function reason(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
  if (cause instanceof Error)
    return 'code' in cause && typeof cause.code === 'string' ? cause.code : cause.message
  return String(cause)
}
