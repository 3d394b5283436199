// The simulator without a listening socket: state, routing, auth, rate limits, faults, inspection.
// `createSandbox(options)` returns a request handler plus control methods; server.ts listens.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { API_HANDLERS, type ApiContext, type ApiResult } from './api'
import { parseBehaviour, resolveBehaviour, type BehaviourOptions, type ResolvedBehaviour } from './behaviour'
import { isRecord } from './check'
import type { Clock } from './clock'
import { handleControl } from './control'
import { SandboxError, describeValue } from './errors'
import { ApiError, errorEnvelope, reasonPhrase, successEnvelope } from './envelope'
import {
  appliesWrite,
  createFaultEngine,
  parseFaultRules,
  type FaultRule,
  type FaultRuleStatus,
  type FaultRules,
} from './faults'
import { readBody, send, sendJson } from './http-util'
import { createIdFactory, type IdFactory } from './ids'
import { renderPage } from './page'
import { createPersister, readPersistedState, type Persister } from './persist'
import { createRandom, createRandomSeed, deriveSeed } from './random'
import {
  createRateLimiter,
  parseRateLimitOptions,
  type RateDecision,
  type RateLimitOptions,
  type RateLimiter,
  type ResolvedRateLimit,
} from './rate-limit'
import { matchRoute, type RouteName } from './routes'
import { applySeed, parseSeed, type SeedInput, type SeedResult } from './seed'
import { createStore, type Store } from './store'
import type {
  ContactRecord,
  DirectoryRecord,
  MailingListRecord,
  RequestLogEntry,
  TransactionBatchRecord,
  TransactionRecord,
  UserRecord,
  WorkflowRecord,
  WorkflowRunRecord,
} from './types'

export interface SandboxOptions {
  /** Users (tokens), directories with merge rules, mailing lists, contacts and workflows. Omitted sections get defaults. */
  seed?: SeedInput
  /** Rate limits; default 3,000 requests/minute per brand, Retry-After sent. */
  rateLimit?: RateLimitOptions
  /** Fault rules active from the start. Default none. */
  faults?: FaultRules
  /** Answers to the questions Qualtrics does not document (see README). */
  behaviour?: BehaviourOptions
  /** Keep the state in this JSON file: loaded at start when it exists (the seed is then ignored), written after changes and on close. */
  persistFile?: string
  /** Delay that coalesces writes of the state file. Default 100 ms. */
  persistDebounceMs?: number
  /** Seed of the pseudo-random generator behind ids, request ids and fault probabilities. Default: a random seed (shown by `inspect()`). */
  randomSeed?: number
  /** Time source in ms (rate-limit buckets, dates). Default `Date.now`. */
  clock?: Clock
  /** Requests kept in the request log. Default 1000. */
  requestLogLimit?: number
  /** Called when writing the state file fails. Default: `process.emitWarning`. */
  onPersistError?: (error: SandboxError) => void
}

/** Ids of the records a client needs first: the first user, the default directory, its first list, the first workflow. */
export interface SandboxPrimary {
  token: string
  datacenter: string
  brandId: string
  directoryId: string
  mailingListId: string
  /** `''` when no workflow is seeded. */
  workflowUrlTokenId: string
}

export interface SandboxInfo extends Omit<SandboxPrimary, 'workflowUrlTokenId'> {
  url: string
  workflowUrl: string
}

export interface SandboxSnapshot {
  datacenter: string
  brandId: string
  randomSeed: number
  /** Users without their token (only its first 4 characters). */
  users: Array<Omit<UserRecord, 'token'> & { tokenHint: string }>
  directories: Array<DirectoryRecord & { contactCount: number }>
  contacts: ContactRecord[]
  mailingLists: MailingListRecord[]
  /** Every transaction written, in order; a key posted twice appears twice. */
  transactions: TransactionRecord[]
  /** Transaction key → how many transactions were written under it (> 1: duplicates). */
  transactionKeyCounts: Record<string, number>
  transactionBatches: TransactionBatchRecord[]
  workflows: WorkflowRecord[]
  workflowRuns: WorkflowRunRecord[]
  /** The latest requests to the Qualtrics routes (not the control API or the page). */
  requests: RequestLogEntry[]
  /** Requests to the Qualtrics routes being handled now (held by latency or timeout faults, for example). */
  inFlight: number
  faults: FaultRuleStatus[]
  rateLimit: ResolvedRateLimit
  behaviour: ResolvedBehaviour
}

export interface Sandbox {
  /** The node:http request listener. */
  handleRequest(req: IncomingMessage, res: ServerResponse): void
  readonly primary: SandboxPrimary
  info(baseUrl: string): SandboxInfo
  /** Replaces the run-time fault rules; `[]` clears them. */
  setFaults(rules: FaultRules): void
  /** Replaces the rate-limit configuration (buckets start empty). */
  setRateLimit(limit: RateLimitOptions): void
  /** Replaces the behaviour switches (unspecified ones return to their defaults). */
  setBehaviour(behaviour: BehaviourOptions): void
  /** Adds (or replaces, by id) the seeded records without clearing anything. */
  seed(seed: SeedInput): SeedResult
  inspect(): SandboxSnapshot
  /** Back to the start: state from `seed` (or the start seed), start faults, rate limits and behaviour, empty log. */
  reset(seed?: SeedInput): void
  /** Removes entries from the request log. */
  clearRequests(): void
  /** Ends held requests (timeouts, latency) and writes the state file. */
  close(): Promise<void>
}

/** A route-specific fault changes what the handler does instead of replacing the answer. */
const HANDLER_FAULTS = new Set<FaultRule['kind']>(['duplicate-search-match', 'partial-unprocessed'])

const DEFAULT_TIMEOUT_MS = 15_000

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/** The datacenter named by a `{dc}.qualtrics.com` or `{brand}.{dc}.qualtrics.com` Host header. */
export function datacenterOfHost(host: string | undefined): string | undefined {
  if (host === undefined) return undefined
  const match = /^(?:[a-z0-9-]+\.)*?([a-z0-9-]+)\.qualtrics\.com(?::\d+)?$/i.exec(host)
  return match?.[1]?.toLowerCase()
}

function originOf(req: IncomingMessage): string {
  const host = req.headers.host ?? '127.0.0.1'
  return `${datacenterOfHost(host) === undefined ? 'http' : 'https'}://${host}`
}

function checkOptions(options: SandboxOptions): void {
  const problems: string[] = []
  const integer = (key: keyof SandboxOptions, min: number): void => {
    const value = options[key]
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < min)) {
      problems.push(`${key}: must be an integer of at least ${min} (Received: ${describeValue(value)})`)
    }
  }
  integer('persistDebounceMs', 0)
  integer('randomSeed', 0)
  integer('requestLogLimit', 0)
  if (
    options.persistFile !== undefined &&
    (typeof options.persistFile !== 'string' || options.persistFile === '')
  ) {
    problems.push(`persistFile: must be a file path (Received: ${describeValue(options.persistFile)})`)
  }
  if (options.clock !== undefined && typeof options.clock !== 'function') {
    problems.push(
      `clock: must be a function returning milliseconds (Received: ${describeValue(options.clock)})`,
    )
  }
  if (problems.length > 0) {
    throw new SandboxError(
      'INVALID_OPTION',
      problems.length === 1
        ? `Invalid sandbox option: ${problems[0] ?? ''}`
        : `Invalid sandbox options:\n  - ${problems.join('\n  - ')}`,
    )
  }
}

export function createSandbox(options: SandboxOptions = {}): Sandbox {
  checkOptions(options)
  const clock: Clock = options.clock ?? Date.now
  const randomSeed = options.randomSeed ?? createRandomSeed()
  const startSeed = options.seed === undefined ? {} : parseSeed(options.seed)
  const startFaults = options.faults === undefined ? [] : parseFaultRules(options.faults)
  const startRateLimit = options.rateLimit === undefined ? {} : parseRateLimitOptions(options.rateLimit)
  const startBehaviour = options.behaviour === undefined ? {} : parseBehaviour(options.behaviour)
  const logLimit = options.requestLogLimit ?? 1000

  let ids: IdFactory
  let requestIds: IdFactory
  let faults = createFaultEngine(createRandom(deriveSeed(randomSeed, 2)))
  let limiter: RateLimiter
  let behaviour: ResolvedBehaviour
  let store: Store
  let requests: RequestLogEntry[] = []
  let seq = 0
  let inFlight = 0
  const held = new Set<{ timer: NodeJS.Timeout; finish: (completed: boolean) => void }>()
  let closing = false

  const persisted = options.persistFile === undefined ? undefined : readPersistedState(options.persistFile)

  const restart = (seed: SeedInput | undefined): void => {
    ids = createIdFactory(createRandom(deriveSeed(randomSeed, 0)))
    requestIds = createIdFactory(createRandom(deriveSeed(randomSeed, 1)))
    faults = createFaultEngine(createRandom(deriveSeed(randomSeed, 2)))
    faults.set(startFaults)
    limiter = createRateLimiter(startRateLimit, clock)
    behaviour = resolveBehaviour(startBehaviour)
    requests = []
    store = createStore()
    applySeed(store, seed ?? startSeed, { ids, now: clock }, { defaults: true })
  }

  if (persisted) {
    restart({ users: [], directories: [], workflows: [] })
    store = createStore(persisted)
  } else {
    restart(undefined)
  }

  let persister: Persister | undefined
  let savedVersion = -1
  if (options.persistFile !== undefined) {
    const onError =
      options.onPersistError ??
      ((error: SandboxError) => process.emitWarning(error.message, 'SandboxWarning'))
    persister = createPersister(
      options.persistFile,
      () => store.toState(),
      options.persistDebounceMs ?? 100,
      onError,
    )
  }
  const persistSoon = (): void => {
    if (persister && store.version !== savedVersion) {
      savedVersion = store.version
      persister.schedule()
    }
  }
  // Write the file right away, so a first start leaves a file even before any request.
  persistSoon()

  const primary = (): SandboxPrimary => {
    const user = store.users.values().next().value
    const directories = [...store.directories.values()]
    const directory = directories.find((d) => d.isDefault) ?? directories[0]
    const list = directory
      ? [...store.mailingLists.values()].find((l) => l.directoryId === directory.id)
      : undefined
    const workflow = store.workflows.values().next().value
    return {
      token: user?.token ?? '',
      datacenter: store.datacenter,
      brandId: store.brandId,
      directoryId: directory?.id ?? '',
      mailingListId: list?.id ?? '',
      workflowUrlTokenId: workflow?.urlTokenId ?? '',
    }
  }

  const info = (baseUrl: string): SandboxInfo => {
    const { workflowUrlTokenId, ...rest } = primary()
    return {
      ...rest,
      url: baseUrl,
      workflowUrl:
        workflowUrlTokenId === ''
          ? ''
          : `${baseUrl}/inbound-event/v1/events/json/triggers?urlTokenId=${workflowUrlTokenId}`,
    }
  }

  const inspect = (): SandboxSnapshot => {
    const state = store.toState()
    const transactionKeyCounts: Record<string, number> = {}
    for (const t of state.transactions) transactionKeyCounts[t.key] = (transactionKeyCounts[t.key] ?? 0) + 1
    return {
      datacenter: state.datacenter,
      brandId: state.brandId,
      randomSeed,
      users: state.users.map(({ token, ...user }) => ({ ...user, tokenHint: `${token.slice(0, 4)}…` })),
      directories: state.directories.map((d) => ({
        ...d,
        contactCount: state.contacts.filter((c) => c.directoryId === d.id).length,
      })),
      contacts: state.contacts,
      mailingLists: state.mailingLists,
      transactions: state.transactions,
      transactionKeyCounts,
      transactionBatches: state.transactionBatches,
      workflows: state.workflows,
      workflowRuns: state.workflowRuns,
      requests: structuredClone(requests),
      inFlight,
      faults: faults.status(),
      rateLimit: structuredClone(limiter.config),
      behaviour: { ...behaviour },
    }
  }

  /** Waits `ms`; resolves false instead when the sandbox closes meanwhile. */
  const hold = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => entry.finish(true), ms),
        finish: (completed: boolean) => {
          clearTimeout(entry.timer)
          held.delete(entry)
          resolve(completed)
        },
      }
      held.add(entry)
    })

  const log = (entry: Omit<RequestLogEntry, 'seq'>): void => {
    requests.push({ seq: ++seq, ...entry })
    if (requests.length > logLimit) requests.splice(0, requests.length - logLimit)
  }

  const authenticate = (req: IncomingMessage): UserRecord => {
    let token = firstHeader(req.headers['x-api-token'])
    const authorization = firstHeader(req.headers.authorization)
    if (token === undefined && authorization !== undefined && /^bearer\s+/i.test(authorization)) {
      token = authorization.replace(/^bearer\s+/i, '').trim()
    }
    if (token === undefined || token === '')
      throw new ApiError(401, 'UNAUTHORIZED', 'Missing X-API-TOKEN header.')
    const user = store.users.get(token)
    if (!user) throw new ApiError(401, 'UNAUTHORIZED', 'Unrecognized X-API-TOKEN.')
    return user
  }

  /** How a JSON-event caller authenticated: X-API-TOKEN, or Basic base64(userName:token). */
  const workflowCaller = (req: IncomingMessage): 'token' | 'basic' | undefined => {
    const token = firstHeader(req.headers['x-api-token'])
    if (token !== undefined && store.users.has(token)) return 'token'
    const authorization = firstHeader(req.headers.authorization)
    const basic = authorization === undefined ? undefined : /^basic\s+(.+)$/i.exec(authorization)?.[1]
    if (basic === undefined) return undefined
    const decoded = Buffer.from(basic.trim(), 'base64').toString('utf8')
    const colon = decoded.lastIndexOf(':')
    if (colon <= 0) return undefined
    const user = store.users.get(decoded.slice(colon + 1))
    return user && user.userName.toLowerCase() === decoded.slice(0, colon).toLowerCase() ? 'basic' : undefined
  }

  const tooMany = (decision: Exclude<RateDecision, { ok: true }>, retryAfterSeconds: number): ApiError => {
    const scope =
      decision.scope === 'brand'
        ? 'this brand'
        : decision.scope === 'endpoint'
          ? 'this endpoint'
          : 'this workflow trigger'
    return new ApiError(
      429,
      'TOO_MANY_REQUESTS',
      `Too many requests: the limit of ${decision.perMinute} requests per minute for ${scope} was reached. Try again later.`,
      limiter.config.retryAfter ? { 'Retry-After': String(retryAfterSeconds) } : {},
    )
  }

  const parseJson = (body: Buffer): unknown => {
    if (body.length === 0) return undefined
    try {
      return JSON.parse(body.toString('utf8')) as unknown
    } catch {
      throw new ApiError(
        400,
        'INVALID_JSON',
        `Request body is not valid JSON (Received: ${body.length} bytes)`,
      )
    }
  }

  const newInstanceId = (): string => `sandbox-${requestIds.uuid().slice(0, 8)}`

  const defaultErrorCode = (status: number): string =>
    reasonPhrase(status)
      .toUpperCase()
      .replace(/[^A-Z]+/g, '_')

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now()
    const method = (req.method ?? 'GET').toUpperCase()
    const url = new URL(req.url ?? '/', 'http://sandbox.invalid')
    const pathname = url.pathname
    const origin = originOf(req)

    if (pathname === '/' && (method === 'GET' || method === 'HEAD')) {
      req.resume()
      const base = `http://${req.headers.host ?? '127.0.0.1'}`
      send(res, 200, renderPage(inspect(), info(base)), {
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-store',
      })
      return
    }
    if (pathname === '/__sandbox' || pathname.startsWith('/__sandbox/')) {
      await handleControl(sandbox, req, res, method, pathname, `http://${req.headers.host ?? '127.0.0.1'}`)
      persistSoon()
      return
    }

    const requestId = requestIds.uuid()
    const match = matchRoute(method, pathname)
    const route: RouteName | null = match.found ? match.name : null
    let notice: string | undefined
    let faultKind: string | undefined
    let rateLimited = false
    inFlight += 1
    let recorded = false
    const record = (status: number): void => {
      if (recorded) return
      recorded = true
      inFlight -= 1
      log({
        time: new Date(clock()).toISOString(),
        method,
        path: pathname,
        query: url.search,
        route,
        status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        requestId,
        ...(faultKind === undefined ? {} : { fault: faultKind }),
        ...(rateLimited ? { rateLimited } : {}),
      })
    }
    const drop = (): void => {
      req.socket.destroy()
      record(0)
    }

    try {
      const limit = route === 'triggerWorkflow' ? behaviour.workflowMaxBytes : behaviour.maxBodyBytes
      const read = await readBody(req, limit)
      if (!match.found) throw new ApiError(404, 'NOT_FOUND', `API call does not exist: ${method} ${pathname}`)
      if (!read.ok) {
        throw new ApiError(
          413,
          'PAYLOAD_TOO_LARGE',
          `Request body must be at most ${limit} bytes (Received: ${read.bytes} bytes)`,
        )
      }
      const target = { method, path: pathname, route }

      let brandForRetry = store.brandId
      let run: (fault: FaultRule | undefined) => ApiResult
      if (match.name === 'triggerWorkflow') {
        const urlTokenId = url.searchParams.get('urlTokenId')
        const triggerId = url.searchParams.get('triggerId')
        if (!urlTokenId && !triggerId) {
          throw new ApiError(
            400,
            'INVALID_PARAMETER',
            'The urlTokenId query parameter is required (Received: none)',
          )
        }
        const workflow = urlTokenId
          ? store.workflows.get(urlTokenId.toLowerCase())
          : [...store.workflows.values()].find((w) => w.triggerId === triggerId)
        if (!workflow) {
          throw new ApiError(
            404,
            'NOT_FOUND',
            `Workflow trigger not found (Received: ${JSON.stringify(urlTokenId ?? triggerId)})`,
          )
        }
        const caller = workflow.auth === 'none' ? 'none' : workflowCaller(req)
        if (caller === undefined) {
          throw new ApiError(
            401,
            'UNAUTHORIZED',
            'This workflow trigger requires an X-API-TOKEN header or Basic authentication with userName:token.',
          )
        }
        const decision = limiter.checkWorkflow(workflow.urlTokenId)
        if (!decision.ok) {
          rateLimited = true
          throw tooMany(decision, decision.retryAfterSeconds)
        }
        const payload = parseJson(read.body) ?? {}
        if (!isRecord(payload)) {
          throw new ApiError(
            400,
            'INVALID_PARAMETER',
            `A JSON event body must be a JSON object (Received: ${describeValue(payload)})`,
          )
        }
        run = () => {
          const runRecord: WorkflowRunRecord = {
            id: ids.uuid(),
            urlTokenId: workflow.urlTokenId,
            workflowName: workflow.name,
            receivedAt: new Date(clock()).toISOString(),
            auth: caller,
            query: Object.fromEntries(url.searchParams),
            payload,
            requestId,
          }
          store.workflowRuns.push(runRecord)
          store.touch()
          return { status: behaviour.workflowStatus, result: { runId: runRecord.id } }
        }
      } else {
        const hostDc = datacenterOfHost(req.headers.host)
        if (hostDc !== undefined && hostDc !== store.datacenter) {
          if (behaviour.wrongDatacenter === 'reject')
            throw new ApiError(401, 'DCD_7', 'Unrecognized X-API-TOKEN.')
          if (behaviour.wrongDatacenter === 'notice') {
            notice = `Request proxied. For faster response times, use this host instead: ${store.datacenter}.qualtrics.com`
          }
        }
        const user = authenticate(req)
        brandForRetry = user.brandId
        const decision = limiter.checkApi(user.brandId, target)
        if (!decision.ok) {
          rateLimited = true
          throw tooMany(decision, decision.retryAfterSeconds)
        }
        const body = parseJson(read.body)
        const handler = API_HANDLERS[match.name]
        run = (fault) => {
          const ctx: ApiContext = {
            store,
            behaviour,
            ids,
            now: clock,
            requestId,
            user,
            params: match.params,
            query: url.searchParams,
            body,
            pathname,
            origin,
            ...(fault === undefined ? {} : { fault }),
          }
          return handler(ctx)
        }
      }

      const pick = faults.pick(target)
      if (pick.latencyMs > 0) {
        faultKind = 'latency'
        if (!(await hold(pick.latencyMs))) return drop()
      }
      const fault = pick.fault
      if (fault === undefined || HANDLER_FAULTS.has(fault.kind)) {
        if (fault) faultKind = fault.kind
        const out = run(fault)
        const status = out.status ?? 200
        sendJson(res, status, successEnvelope(status, requestId, out.result, notice))
        record(status)
        return
      }

      faultKind = fault.kind
      if (appliesWrite(fault)) {
        try {
          run(undefined)
        } catch {
          // The fault replaces the answer whatever the handler said.
        }
      }
      switch (fault.kind) {
        case 'http-error': {
          const status = fault.status
          const envelope = errorEnvelope(
            status,
            requestId,
            {
              errorCode: fault.errorCode ?? defaultErrorCode(status),
              errorMessage: fault.errorMessage ?? `Sandbox fault: ${reasonPhrase(status)}.`,
              ...(status >= 500 ? { instanceId: newInstanceId() } : {}),
            },
            notice,
          )
          sendJson(res, status, envelope)
          record(status)
          return
        }
        case 'rate-limit': {
          rateLimited = true
          const retry = fault.retryAfterSeconds ?? limiter.retryAfterFor(brandForRetry)
          const error = tooMany(
            { ok: false, scope: 'brand', perMinute: limiter.config.perMinute, retryAfterSeconds: retry },
            retry,
          )
          sendJson(
            res,
            429,
            errorEnvelope(
              429,
              requestId,
              { errorCode: error.errorCode, errorMessage: error.message },
              notice,
            ),
            error.headers,
          )
          record(429)
          return
        }
        case 'non-json': {
          const status = fault.status ?? 200
          send(
            res,
            status,
            fault.body ?? '<html><body><h1>Service temporarily unavailable</h1></body></html>',
            {
              'Content-Type': fault.contentType ?? 'text/html; charset=utf-8',
            },
          )
          record(status)
          return
        }
        case 'no-envelope': {
          const status = fault.status ?? 200
          sendJson(res, status, 'body' in fault ? fault.body : {})
          record(status)
          return
        }
        case 'timeout':
          await hold(fault.ms ?? DEFAULT_TIMEOUT_MS)
          return drop()
        case 'disconnect':
          return drop()
        default:
          return drop()
      }
    } catch (error) {
      if (error instanceof ApiError) {
        const envelope = errorEnvelope(
          error.status,
          requestId,
          { errorCode: error.errorCode, errorMessage: error.message },
          notice,
        )
        sendJson(res, error.status, envelope, error.headers)
        record(error.status)
        return
      }
      const message = error instanceof Error ? error.message : describeValue(error)
      sendJson(
        res,
        500,
        errorEnvelope(500, requestId, {
          errorCode: 'SANDBOX_INTERNAL_ERROR',
          errorMessage: `The sandbox failed: ${message}`,
          instanceId: newInstanceId(),
        }),
      )
      record(500)
    } finally {
      persistSoon()
    }
  }

  const sandbox: Sandbox = {
    handleRequest(req, res) {
      if (closing) {
        req.resume()
        sendJson(res, 503, { error: { code: 'SANDBOX_CLOSING', message: 'The sandbox is shutting down.' } })
        return
      }
      void handle(req, res)
    },
    get primary() {
      return primary()
    },
    info,
    setFaults(rules) {
      faults.set(parseFaultRules(rules))
    },
    setRateLimit(limit) {
      limiter = createRateLimiter(parseRateLimitOptions(limit), clock)
    },
    setBehaviour(next) {
      behaviour = resolveBehaviour(parseBehaviour(next))
    },
    seed(input) {
      const result = applySeed(store, parseSeed(input), { ids, now: clock }, { defaults: false })
      persistSoon()
      return result
    },
    inspect,
    reset(seed) {
      restart(seed === undefined ? undefined : parseSeed(seed))
      persistSoon()
    },
    clearRequests() {
      requests = []
    },
    async close() {
      closing = true
      for (const entry of [...held]) entry.finish(false)
      if (persister) await persister.flush()
    },
  }
  return sandbox
}
