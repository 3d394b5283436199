// The Qualtrics REST API client: the implementation of QualtricsApi (types.ts) over an injected fetch.
// It checks every URL against the host allowlist before the token leaves, reads both the HTTP status
// and Qualtrics' `meta.error`, validates each `result` shape, and rejects only with the RelayError
// subclasses of errors.ts (the retry rule of each is tabled there).

import { PayloadValidationError, describeValue } from '../../errors'
import {
  HostNotAllowedError,
  NetworkError,
  QualtricsApiError,
  QualtricsResponseError,
  TimeoutError,
  type RequestTarget,
} from './errors'
import { parseAllowedUrl } from './host-allowlist'
import { parseQualtricsClientOptions, type QualtricsCallLog, type QualtricsClientOptions } from './options'
import {
  ResponseShapeError,
  excerpt,
  parseEnvelope,
  readContact,
  readCreatedId,
  readDirectoryElement,
  readListedTransaction,
  readMailingList,
  readMailingListContact,
  readPage,
  readTransactionsResult,
  readWhoAmI,
  type Envelope,
} from './response-shapes'
import type { ContactFilter, QualtricsClient } from './types'

/** Qualtrics refuses JSON-event payloads above 100 KB. */
export const MAX_WORKFLOW_PAYLOAD_BYTES = 100 * 1024
/** A guard against a `nextPage` chain that never ends. */
const MAX_PAGES = 1000

type Method = 'GET' | 'POST' | 'PUT'

/** An HTTP answer, read in full (token already redacted from the text). */
interface Answer {
  status: number
  statusText: string
  headers: Headers
  text: string
  /** A browser-style opaque redirect (status 0). */
  redirected: boolean
  /** `now()` when the body was in. */
  receivedAt: number
}

interface SendSpec<T> {
  method: Method
  url: URL
  body?: unknown
  /** Reads the parsed envelope (undefined for an empty body when `emptyOk`) of a 2xx answer. */
  read: (envelope: Envelope | undefined, status: number) => T
  /** Accept an empty 2xx body (updates, workflow triggers). */
  emptyOk?: boolean
  /** Accept any 2xx body without parsing it (workflow triggers). */
  anyBodyOk?: boolean
}

/** Creates a client for one Qualtrics account. Throws ConfigError listing every bad option. */
export function createQualtricsClient(options: QualtricsClientOptions): QualtricsClient {
  const config = parseQualtricsClientOptions(options)
  const { apiToken, apiBase, extraOrigin, now, timeoutMs, logger, userAgent } = config

  const redact = (text: string): string => text.split(apiToken).join('[redacted]')

  function apiUrl(path: string, query: Record<string, string | number | undefined> = {}): URL {
    const url = parseAllowedUrl(`${apiBase}${path}`, extraOrigin, 'the API base URL')
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(key, String(value))
    }
    return url
  }

  function log(level: 'info' | 'warn', fields: QualtricsCallLog): void {
    try {
      logger[level](fields, level === 'info' ? 'qualtrics call' : 'qualtrics call failed')
    } catch {
      // A failing logger must not fail the call.
    }
  }

  async function send<T>(spec: SendSpec<T>): Promise<T> {
    const target: RequestTarget = { method: spec.method, path: spec.url.pathname }
    const started = now()
    let status: number | undefined
    let requestId: string | undefined
    let notice: string | undefined
    let receivedAt: number | undefined
    try {
      const answer = await exchange(spec, target)
      status = answer.status
      receivedAt = answer.receivedAt
      const envelope = readBody(spec, target, answer)
      requestId = envelope?.requestId
      notice = envelope?.notice
      let value: T
      try {
        value = spec.read(envelope, answer.status)
      } catch (error) {
        if (!(error instanceof ResponseShapeError)) throw error
        throw badResponse(target, answer.status, error, requestId)
      }
      log('info', withDefined({ ...target, status, ms: answer.receivedAt - started }, { requestId, notice }))
      return value
    } catch (error) {
      const fields: QualtricsCallLog = { ...target, ms: (receivedAt ?? now()) - started }
      if (error instanceof QualtricsApiError || error instanceof QualtricsResponseError) {
        fields.status = error.status
        if (error.requestId !== undefined) fields.requestId = error.requestId
      } else if (status !== undefined) fields.status = status
      if (error instanceof Error && 'code' in error && typeof error.code === 'string')
        fields.code = error.code
      log('warn', fields)
      throw error
    }
  }

  /** One HTTP exchange, headers and body, within `timeoutMs`. Never follows redirects. */
  async function exchange(spec: SendSpec<unknown>, target: RequestTarget): Promise<Answer> {
    const fetchImpl = config.fetch ?? globalThis.fetch
    const headers: Record<string, string> = {
      'X-API-TOKEN': apiToken,
      Accept: 'application/json',
      'User-Agent': userAgent,
    }
    let body: string | undefined
    if (spec.body !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = serialise(spec.body, target)
    }
    const controller = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new TimeoutError({ ...target, timeoutMs }))
        controller.abort()
      }, timeoutMs)
    })
    const work = (async () => {
      const init: RequestInit = {
        method: spec.method,
        headers,
        redirect: 'manual',
        signal: controller.signal,
      }
      if (body !== undefined) init.body = body
      const response = await fetchImpl(spec.url.href, init)
      const text = await response.text()
      return {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
        text: redact(text),
        redirected: response.type === 'opaqueredirect',
        receivedAt: now(),
      }
    })()
    // The losing side of the race must not surface as an unhandled rejection.
    work.catch(() => {})
    try {
      return await Promise.race([work, timedOut])
    } catch (error) {
      if (error instanceof TimeoutError) throw error
      if (controller.signal.aborted) throw new TimeoutError({ ...target, timeoutMs })
      throw new NetworkError({
        ...target,
        origin: spec.url.origin,
        reason: redact(describeNetworkFailure(error)),
        cause: error,
      })
    } finally {
      clearTimeout(timer)
    }
  }

  /** Turns an answer into an envelope, or throws the matching error. */
  function readBody(spec: SendSpec<unknown>, target: RequestTarget, answer: Answer): Envelope | undefined {
    const { status, text } = answer
    if (answer.redirected || (status >= 300 && status < 400)) {
      const location = answer.headers.get('location')
      let where = 'another location'
      if (location !== null) {
        try {
          where = new URL(location, spec.url).origin
        } catch {
          where = 'an unreadable location'
        }
      }
      throw new QualtricsResponseError({
        ...target,
        status,
        kind: 'redirect',
        problem: `a redirect to ${where}; redirects are not followed`,
      })
    }
    if (status >= 400 || status < 200) throw apiError(target, answer)
    if (spec.anyBodyOk) return tryParseEnvelope(text)
    if (spec.emptyOk && text.trim() === '') return undefined
    try {
      return parseEnvelope(text)
    } catch (error) {
      if (!(error instanceof ResponseShapeError)) throw error
      throw badResponse(target, status, error, undefined)
    }
  }

  function apiError(target: RequestTarget, answer: Answer): QualtricsApiError {
    const envelope = tryParseEnvelope(answer.text)
    const statusText = answer.statusText || reasonFromMeta(answer.text) || REASONS[answer.status] || ''
    return new QualtricsApiError(
      withDefined(
        { ...target, status: answer.status, statusText },
        {
          errorMessage:
            envelope?.errorMessage === undefined ? undefined : truncate(envelope.errorMessage, 200),
          errorCode: envelope?.errorCode,
          requestId: envelope?.requestId,
          instanceId: envelope?.instanceId,
          retryAfterMs: parseRetryAfter(answer.headers.get('retry-after'), answer.receivedAt),
          bodyExcerpt: envelope?.errorMessage === undefined ? excerpt(answer.text) : undefined,
        },
      ),
    )
  }

  function badResponse(
    target: RequestTarget,
    status: number,
    error: ResponseShapeError,
    requestId: string | undefined,
  ): QualtricsResponseError {
    return new QualtricsResponseError(
      withDefined({ ...target, status, kind: error.kind, problem: redact(error.message) }, { requestId }),
    )
  }

  function pageError(
    target: RequestTarget,
    problem: string,
    requestId: string | undefined,
  ): QualtricsResponseError {
    return new QualtricsResponseError(
      withDefined({ ...target, status: 200, kind: 'bad-shape', problem }, { requestId }),
    )
  }

  /** GETs `first` and every page after it (`result.nextPage` links, or a `skipToken` field). */
  async function listAll<T>(first: URL, readElement: (value: unknown, path: string) => T): Promise<T[]> {
    const all: T[] = []
    const seen = new Set<string>()
    let url = first
    for (let page = 1; ; page++) {
      seen.add(url.href)
      const current = url
      const { elements, nextPage, skipToken, requestId } = await send({
        method: 'GET',
        url: current,
        read: (env) => ({ ...readPage(env?.result, readElement), requestId: env?.requestId }),
      })
      all.push(...elements)
      let next: URL
      if (nextPage !== undefined) {
        next = parseAllowedUrl(
          nextPage,
          extraOrigin,
          `the nextPage link of GET ${current.pathname}`,
          current.href,
        )
      } else if (skipToken !== undefined) {
        next = new URL(current)
        next.searchParams.set('skipToken', skipToken)
      } else return all
      const target = { method: 'GET', path: current.pathname }
      if (seen.has(next.href))
        throw pageError(target, 'result.nextPage points to a page already read', requestId)
      if (page >= MAX_PAGES) throw pageError(target, `more than ${MAX_PAGES} pages`, requestId)
      url = next
    }
  }

  const client: QualtricsClient = {
    async whoami() {
      return send({ method: 'GET', url: apiUrl('/API/v3/whoami'), read: (env) => readWhoAmI(env?.result) })
    },

    async listDirectories() {
      return listAll(apiUrl('/API/v3/directories'), readDirectoryElement)
    },

    async createDirectoryContact(directoryId, contact) {
      const url = apiUrl(`/API/v3/directories/${segment('directoryId', directoryId)}/contacts`)
      return send({ method: 'POST', url, body: contact, read: (env) => readCreatedId(env?.result) })
    },

    async searchDirectoryContacts(directoryId, filter, page = {}) {
      checkFilter(filter)
      if (page.pageSize !== undefined && !(Number.isInteger(page.pageSize) && page.pageSize > 0)) {
        throw new PayloadValidationError(
          `pageSize must be a positive whole number (Received: ${describeValue(page.pageSize)})`,
        )
      }
      const url = apiUrl(`/API/v3/directories/${segment('directoryId', directoryId)}/contacts/search`, {
        pageSize: page.pageSize,
        skipToken: page.skipToken,
      })
      return send({
        method: 'POST',
        url,
        body: { filter },
        read: (env) => {
          const { elements, nextPage, skipToken } = readPage(env?.result, readContact)
          const next = nextPage === undefined ? skipToken : skipTokenOf(nextPage, url)
          return next === undefined ? { contacts: elements } : { contacts: elements, skipToken: next }
        },
      })
    },

    async getDirectoryContact(directoryId, contactId) {
      const url = apiUrl(
        `/API/v3/directories/${segment('directoryId', directoryId)}/contacts/${segment('contactId', contactId)}`,
      )
      return send({ method: 'GET', url, read: (env) => readContact(env?.result, 'result') })
    },

    async updateDirectoryContact(directoryId, contactId, contact) {
      const url = apiUrl(
        `/API/v3/directories/${segment('directoryId', directoryId)}/contacts/${segment('contactId', contactId)}`,
      )
      await send({ method: 'PUT', url, body: contact, emptyOk: true, read: () => undefined })
    },

    async createContactInMailingList(directoryId, mailingListId, contact) {
      const url = apiUrl(
        `/API/v3/directories/${segment('directoryId', directoryId)}/mailinglists/${segment('mailingListId', mailingListId)}/contacts`,
      )
      // The mailing-list create takes embedded data as string → string only (spec §2.5).
      const body =
        contact.embeddedData === undefined
          ? contact
          : { ...contact, embeddedData: asStrings(contact.embeddedData) }
      return send({ method: 'POST', url, body, read: (env) => readMailingListContact(env?.result) })
    },

    async createContactTransactions(directoryId, transactions) {
      const url = apiUrl(`/API/v3/directories/${segment('directoryId', directoryId)}/transactions`)
      const keys = Object.keys(transactions)
      if (keys.length === 0) return { created: {}, unprocessed: {} }
      return send({
        method: 'POST',
        url,
        body: transactions,
        read: (env) => {
          const result = readTransactionsResult(env?.result, keys)
          return env?.requestId === undefined ? result : { ...result, requestId: env.requestId }
        },
      })
    },

    async listContactTransactions(directoryId, contactId) {
      const url = apiUrl(
        `/API/v3/directories/${segment('directoryId', directoryId)}/contacts/${segment('contactId', contactId)}/transactions`,
        { pageSize: 100 },
      )
      return listAll(url, readListedTransaction)
    },

    async listDirectoryContacts(directoryId, page = {}) {
      const url = apiUrl(`/API/v3/directories/${segment('directoryId', directoryId)}/contacts`, {
        pageSize: page.pageSize,
      })
      return send({ method: 'GET', url, read: (env) => readPage(env?.result, readContact).elements })
    },

    async getMailingList(directoryId, mailingListId) {
      const url = apiUrl(
        `/API/v3/directories/${segment('directoryId', directoryId)}/mailinglists/${segment('mailingListId', mailingListId)}`,
      )
      return send({ method: 'GET', url, read: (env) => readMailingList(env?.result) })
    },

    async triggerWorkflow(workflowUrl, payload) {
      if (typeof workflowUrl !== 'string') {
        throw new HostNotAllowedError(
          `Refusing to send the Qualtrics API token: the workflow URL must be a string (Received: ${describeValue(workflowUrl)})`,
        )
      }
      const url = parseAllowedUrl(workflowUrl, extraOrigin, 'the workflow URL')
      checkWorkflowPayload(payload)
      return send({
        method: 'POST',
        url,
        body: payload,
        anyBodyOk: true,
        read: (_env, status) => ({ status }),
      })
    },
  }
  return client
}

/** An id used as a path segment: a non-empty string that is not `.` or `..`, percent-encoded. */
function segment(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '' || value === '.' || value === '..') {
    throw new PayloadValidationError(`${name} must be a non-empty id (Received: ${describeValue(value)})`)
  }
  return encodeURIComponent(value)
}

function asStrings(data: Record<string, string | number | boolean>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, String(v)]))
}

/** JSON for a request body; a value JSON cannot carry (BigInt, a cycle) is a PayloadValidationError. */
function serialise(body: unknown, target: RequestTarget): string {
  try {
    return JSON.stringify(body)
  } catch (error) {
    throw new PayloadValidationError(
      `The body of ${target.method} ${target.path} cannot be serialised to JSON: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
}

function checkFilter(filter: ContactFilter): void {
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
    throw new PayloadValidationError(
      `The search filter must be an object (Received: ${describeValue(filter)})`,
    )
  }
}

function checkWorkflowPayload(payload: Record<string, unknown>): void {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new PayloadValidationError(
      `The workflow payload must be a JSON object (Received: ${describeValue(payload)})`,
    )
  }
  let json: string
  try {
    json = JSON.stringify(payload)
  } catch (error) {
    throw new PayloadValidationError(
      `The workflow payload cannot be serialised to JSON: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
  const bytes = new TextEncoder().encode(json).length
  if (bytes > MAX_WORKFLOW_PAYLOAD_BYTES) {
    throw new PayloadValidationError(
      `The workflow payload is ${bytes} bytes; Qualtrics accepts at most ${MAX_WORKFLOW_PAYLOAD_BYTES} (100 KB)`,
    )
  }
}

/** The `skipToken` of a `nextPage` link (resolved against the request URL). */
function skipTokenOf(nextPage: string, requestUrl: URL): string {
  let token: string | null = null
  try {
    token = new URL(nextPage, requestUrl).searchParams.get('skipToken')
  } catch {
    token = null
  }
  if (token === null || token === '') {
    throw new ResponseShapeError(
      'bad-shape',
      `result.nextPage must be a link with a skipToken (Received: ${describeValue(nextPage)})`,
    )
  }
  return token
}

function tryParseEnvelope(text: string): Envelope | undefined {
  try {
    return parseEnvelope(text)
  } catch {
    return undefined
  }
}

/** `Retry-After` as ms: delta-seconds, or an HTTP date relative to `now`. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (header === null) return undefined
  const value = header.trim()
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000)
  const date = Date.parse(value)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, date - now)
}

/** The reason phrase of `meta.httpStatus` ("404 - Not Found"), when the body has one. */
function reasonFromMeta(text: string): string | undefined {
  try {
    const body: unknown = JSON.parse(text)
    if (typeof body !== 'object' || body === null) return undefined
    const meta: unknown = (body as { meta?: unknown }).meta
    if (typeof meta !== 'object' || meta === null) return undefined
    const httpStatus: unknown = (meta as { httpStatus?: unknown }).httpStatus
    if (typeof httpStatus !== 'string') return undefined
    const match = /^\d{3}\s*-\s*(.+)$/.exec(httpStatus)
    return match?.[1]?.trim()
  } catch {
    return undefined
  }
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

/** The innermost cause of a fetch failure, e.g. `connect ECONNREFUSED 127.0.0.1:9`. */
function describeNetworkFailure(error: unknown): string {
  let current = error
  while (current instanceof Error && current.cause instanceof Error) current = current.cause
  if (current instanceof AggregateError && current.errors[0] instanceof Error) current = current.errors[0]
  if (!(current instanceof Error)) return describeValue(current)
  const code = 'code' in current && typeof current.code === 'string' ? current.code : undefined
  return truncate(current.message || code || current.name, 160)
}

function truncate(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

type Defined<E> = { [K in keyof E]?: Exclude<E[K], undefined> }

/** `base` plus the entries of `extras` that are defined (for exactOptionalPropertyTypes). */
function withDefined<T extends object, E extends object>(base: T, extras: E): T & Defined<E> {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) }
  for (const [key, value] of Object.entries(extras)) if (value !== undefined) out[key] = value
  return out as T & Defined<E>
}
