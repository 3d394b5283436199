// Starting and stopping the proxy: the sandbox (in sandbox mode), the Qualtrics client, the store
// (SQLite, or PostgreSQL for several instances), the delivery engine, the app, and the HTTP listener — and taking them down in the right order.
import { mkdirSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { dirname } from 'node:path'
import {
  createDeliveryEngine,
  createQualtricsClient,
  liveCheckAccount,
  orLookupsVerified,
  readLiveCheckRecord,
  sharedWithFleet,
  type DeliveryEngine,
  type DeliveryStore,
  type QualtricsCallLog,
  type QualtricsLogger,
} from '@qualtrics-relay/core/server'
import { createPostgresStore, maskDatabaseUrl, type PostgresStore } from '@qualtrics-relay/core/postgres'
import { createSqliteStore } from '@qualtrics-relay/core/sqlite'
import { startSandbox } from '@qualtrics-relay/sandbox'
import type { DestinationStream } from 'pino'
import { createApp } from './app'
import { applySandboxValues, type ProxyConfig, type StorageConfig } from './config'
import { createLogger, type Logger } from './logger'
import { createMetrics, endpointLabel, type ProxyMetrics } from './metrics'
import { createStorageGuard, type StorageGuard } from './storage-guard'

type Sandbox = Awaited<ReturnType<typeof startSandbox>>

export interface StartOptions {
  /** Where log lines go. Default: stdout. */
  logDestination?: DestinationStream
  /** Collect process metrics (CPU, memory, event loop). Default: true. */
  processMetrics?: boolean
  /** Time in-flight HTTP requests get on close before their connections are cut, in ms. Default 10,000. */
  closeGraceMs?: number
}

export interface RunningServer {
  /** `http://host:port`, with the port actually bound. */
  url: string
  /** The config in effect (sandbox placeholders replaced). */
  config: ProxyConfig
  engine: DeliveryEngine
  logger: Logger
  metrics: ProxyMetrics
  /** In sandbox mode: the sandbox the proxy started and delivers to. */
  sandbox?: Sandbox
  /** Stops accepting, lets in-flight requests finish, stops the engine (in-flight work is finished or
   * handed back to the store), closes the store and the sandbox. Safe to call twice. */
  close(): Promise<void>
}

export async function startServer(input: ProxyConfig, options: StartOptions = {}): Promise<RunningServer> {
  let config = input
  let sandbox: Sandbox | undefined
  let target: { apiToken: string; datacenter?: string; baseUrl?: string }
  let workflowOrigins: string[] = []
  if (config.qualtrics.mode === 'sandbox') {
    sandbox = await startSandbox({ port: config.qualtrics.port, host: config.qualtrics.host })
    config = applySandboxValues(config, sandbox)
    target = { apiToken: sandbox.token, datacenter: sandbox.datacenter, baseUrl: sandbox.url }
    workflowOrigins = [new URL(sandbox.url).origin]
  } else {
    const { mode: _mode, ...qualtrics } = config.qualtrics
    target = qualtrics
    if (target.baseUrl !== undefined) workflowOrigins = [new URL(target.baseUrl).origin]
  }

  const secrets = [target.apiToken, config.adminToken ?? '']
  for (const wk of config.writeKeys.values()) if (wk.identity) secrets.push(wk.identity.secret)
  const logger = createLogger({
    level: config.logLevel,
    secrets,
    ...(options.logDestination ? { destination: options.logDestination } : {}),
  })

  const cleanups: (() => Promise<void>)[] = []
  const cleanup = async () => {
    for (const fn of cleanups.reverse())
      await fn().catch((error: unknown) => logger.error({ err: error }, 'shutdown step failed'))
    cleanups.length = 0
  }
  if (sandbox) {
    const s = sandbox
    cleanups.push(() => s.close())
  }

  try {
    const { requestTimeoutMs, ...engineOptions } = config.delivery
    const started: { engine?: DeliveryEngine; store?: DeliveryStore } = {}
    const metrics = createMetrics({
      processMetrics: options.processMetrics ?? true,
      queueDepth: async () =>
        started.engine ? started.engine.counts() : { pending: 0, leased: 0, delivered: 0, dead: 0 },
      circuitState: async () =>
        started.engine ? started.engine.circuitState() : { state: 'closed', failures: 0, failedProbes: 0 },
      rateBudget: async () => started.engine?.rateBudgetState(),
      oldestPendingAt: async () => started.store?.oldestPendingAt(),
    })
    const client = createQualtricsClient({
      ...target,
      ...(requestTimeoutMs === undefined ? {} : { timeoutMs: requestTimeoutMs }),
      logger: clientLogger(logger.child({ component: 'qualtrics' }), metrics),
    })

    const store = await openStore(config.storage, logger)
    started.store = store
    cleanups.push(() => store.close())

    // A PostgreSQL store has no files here to watch; /readyz pings it instead.
    const storageGuard = createStorageGuard(
      config.storage.kind === 'sqlite' ? config.storage.path : ':memory:',
    )
    cleanups.push(watchStorage(storageGuard, logger))

    const allowedWorkflows = new Set<string>()
    for (const wk of config.writeKeys.values())
      for (const url of wk.allow.workflowUrls) allowedWorkflows.add(url)
    // Sandbox mode calls no host but its sandbox (config.ts already refuses other workflow URLs there).
    const sandboxOrigin = sandbox === undefined ? undefined : new URL(sandbox.url).origin
    // Batched `or` look-ups only where `check --live` saw this account honour them (never in sandbox mode).
    const orLookups =
      sandbox === undefined &&
      orLookupsVerified(readLiveCheckRecord(config.liveCheck.recordPath), liveCheckAccount(target))
    if (orLookups)
      logger.info(
        { recordPath: config.liveCheck.recordPath },
        'batched contact look-ups on: the live check recorded "or" filters honoured on this account',
      )
    const engineConfig = { ...engineOptions, client, store }
    // On PostgreSQL every instance draws from one brand-wide budget (requestsPerMinute is the fleet's),
    // creates a new user's contact one instance at a time, and stops for an outage any of them saw
    // (unless a test asks for none of it).
    const shared = perProcessForTests(config.storage, logger) ? {} : sharedWithFleet(engineConfig)
    const engine = createDeliveryEngine({
      ...engineConfig,
      ...shared,
      orLookups,
      logger: logger.child({ component: 'delivery' }),
      isWorkflowUrlAllowed: (url) => {
        try {
          const parsed = new URL(url)
          if (sandboxOrigin !== undefined && parsed.origin !== sandboxOrigin) return false
          return allowedWorkflows.has(parsed.href)
        } catch {
          return false
        }
      },
    })
    started.engine = engine
    wireEngineMetrics(engine, metrics)

    const app = createApp({ config, engine, client, store, logger, metrics, workflowOrigins, storageGuard })
    const server = createServer(
      {
        // Slow clients: headers and whole requests have deadlines, checked every second (Node's default
        // check runs every 30 s, and its request deadline is 300 s).
        headersTimeout: config.server.headersTimeoutMs,
        requestTimeout: config.server.requestTimeoutMs,
        connectionsCheckingInterval: 1_000,
      },
      app,
    )
    server.keepAliveTimeout = 5_000
    limitConnectionsPerAddress(server, config.server.maxConnectionsPerAddress, metrics)
    server.on('clientError', answerUnparsable)
    await listen(server, config.server.port, config.server.host)
    const address = server.address() as AddressInfo
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
    const url = `http://${host}:${address.port}`

    cleanups.push(() => engine.stop())
    cleanups.push(() => closeServer(server, options.closeGraceMs ?? 10_000))
    engine.start()

    let closing: Promise<void> | undefined
    const running: RunningServer = {
      url,
      config,
      engine,
      logger,
      metrics,
      close: () => {
        closing ??= (async () => {
          logger.info({}, 'shutting down')
          await cleanup()
          logger.info({}, 'stopped')
          logger.flush()
        })()
        return closing
      },
    }
    if (sandbox) running.sandbox = sandbox
    logger.info(
      {
        url,
        mode: config.qualtrics.mode,
        writeKeys: [...config.writeKeys.keys()],
        storage: describeStorage(config.storage),
        // What this instance shares with the others on its database (nothing on SQLite).
        sharedWithFleet: Object.keys(shared),
        source: config.source,
      },
      'proxy listening',
    )
    return running
  } catch (error) {
    await cleanup()
    throw error
  }
}

/**
 * Closes a new connection at once when its address already holds `max` (0: no limit), so one client
 * cannot take every file descriptor (a slowloris) and shut everyone else out.
 */
function limitConnectionsPerAddress(server: Server, max: number, metrics: ProxyMetrics): void {
  if (max <= 0) return
  const open = new Map<string, number>()
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown'
    const n = open.get(address) ?? 0
    if (n >= max) {
      metrics.connectionsRefused.inc()
      socket.destroy()
      return
    }
    open.set(address, n + 1)
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1
      if (left === 0) open.delete(address)
      else open.set(address, left)
    })
  })
}

/** Looks at the database files every few seconds and logs once when they go missing or come back. */
function watchStorage(guard: StorageGuard, logger: Logger): () => Promise<void> {
  let failing = false
  const timer = setInterval(() => {
    const result = guard.check()
    if (!result.ok && !failing) logger.error({ code: result.code }, result.message)
    else if (result.ok && failing) logger.info({}, 'the database files are back as they were opened')
    failing = !result.ok
  }, 5_000)
  timer.unref()
  return () => {
    clearInterval(timer)
    return Promise.resolve()
  }
}

/** The configured store; with `ping` when it is networked, for `/readyz`. */
async function openStore(storage: StorageConfig, logger: Logger): Promise<DeliveryStore | PostgresStore> {
  if (storage.kind === 'postgres') {
    return createPostgresStore({
      url: storage.url,
      ...(storage.schema === undefined ? {} : { schema: storage.schema }),
      ...(storage.poolSize === undefined ? {} : { poolSize: storage.poolSize }),
      logger: logger.child({ component: 'storage' }),
    })
  }
  if (storage.path !== ':memory:') mkdirSync(dirname(storage.path), { recursive: true })
  return createSqliteStore({ path: storage.path, synchronous: storage.synchronous })
}

/** The test switch that keeps the rate budget, contact locks and circuit per process (said loudly when on). */
function perProcessForTests(storage: StorageConfig, logger: Logger): boolean {
  if (storage.kind !== 'postgres' || storage.testOnlyPerProcessLimits !== true) return false
  logger.warn(
    {},
    'RELAY_TEST_ONLY_PER_PROCESS_LIMITS=1: rate budget, contact locks and circuit are per process, not shared by the fleet (a test switch; never in production)',
  )
  return true
}

function describeStorage(storage: StorageConfig): string {
  return storage.kind === 'sqlite' ? storage.path : `postgres ${maskDatabaseUrl(storage.url)}`
}

/** Installs SIGTERM/SIGINT handlers that close the server once; a second signal exits at once. */
export function installShutdownHandlers(running: RunningServer, exit: (code: number) => void): () => void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      running.logger.warn({ signal }, 'second signal: exiting without waiting')
      exit(1)
      return
    }
    stopping = true
    running.logger.info({ signal }, 'signal received; stopping')
    running.close().then(
      () => exit(0),
      (error: unknown) => {
        running.logger.error({ err: error }, 'shutdown failed')
        exit(1)
      },
    )
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  return () => {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }
}

/**
 * Node's HTTP parser refuses some requests before the app sees them (a request line or headers over
 * 16 KiB, malformed HTTP). Without this, Node answers a bare status with no body; this gives the same
 * `{ error: { code, message } }` body as every other refusal, then closes the connection.
 */
function answerUnparsable(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW'
  // Past server.headersTimeoutMs / requestTimeoutMs: 408, which a plugin retries (a slow network is not
  // a bad request).
  const late = error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
  const body = JSON.stringify({
    error: tooLarge
      ? { code: 'HEADERS_TOO_LARGE', message: 'The request line and headers must be at most 16 KiB' }
      : late
        ? { code: 'TIMEOUT', message: 'The request did not arrive in time; send it again' }
        : { code: 'BAD_REQUEST', message: `The request is not valid HTTP (${error.code ?? 'parse error'})` },
  })
  const status = tooLarge
    ? '431 Request Header Fields Too Large'
    : late
      ? '408 Request Timeout'
      : '400 Bad Request'
  socket.end(
    `HTTP/1.1 ${status}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  )
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

/** Stops accepting, closes idle keep-alive connections, waits for in-flight requests up to `graceMs`. */
function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs)
    // Connections that finish their request while we wait become idle: close them as they do.
    const sweeper = setInterval(() => server.closeIdleConnections(), 50)
    timer.unref()
    server.close(() => {
      clearTimeout(timer)
      clearInterval(sweeper)
      resolve()
    })
    server.closeIdleConnections()
  })
}

/** One log line and metrics per Qualtrics call. */
function clientLogger(logger: Logger, metrics: ProxyMetrics): QualtricsLogger {
  const record = (fields: QualtricsCallLog) => {
    const endpoint = endpointLabel(fields.path)
    metrics.qualtricsCalls.inc({
      method: fields.method,
      endpoint,
      status: fields.status === undefined ? 'none' : String(fields.status),
    })
    metrics.qualtricsDuration.observe({ method: fields.method, endpoint }, fields.ms / 1000)
    metrics.qualtricsUp.set(fields.status !== undefined && fields.status < 500 ? 1 : 0)
  }
  return {
    info(fields, message) {
      record(fields)
      logger.info(fields, message)
    },
    warn(fields, message) {
      record(fields)
      logger.warn(fields, message)
    },
  }
}

function wireEngineMetrics(engine: DeliveryEngine, metrics: ProxyMetrics): void {
  engine.on('delivered', ({ item, ageMs }) => {
    metrics.delivered.inc({ action: item.action })
    metrics.deliveryLatency.observe({ action: item.action }, ageMs / 1000)
  })
  engine.on('retried', ({ item, error }) => metrics.retried.inc({ action: item.action, code: error.code }))
  engine.on('deadLettered', ({ item, error }) =>
    metrics.deadLettered.inc({ action: item.action, code: error.code }),
  )
  engine.on('circuit', ({ from, to }) => {
    if (from === 'closed' && to === 'open') metrics.circuitOpened.inc()
  })
}
