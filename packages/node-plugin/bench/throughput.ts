// Node plugin throughput: one stream of "Transaction Created" events through a real analytics-node
// instance with the plugin, delivered to the sandbox, in direct mode and beside it through the proxy.
// Reports events per second (until accepted, and until delivered to the sandbox) and Qualtrics requests
// per event. Bounded: a fixed number of events, every wait with a timeout, everything closed at the end.
//
// Rate limits are off on both sides (the sandbox's and the engine's token bucket): this measures the
// plugin and the engine, not the 3,000/min brand limit, which the proxy's own benchmark covers.
import { parseConfig, startServer } from '@qualtrics-relay/proxy'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { Analytics } from '@segment/analytics-node'
import { createQualtricsNodePlugin, type QualtricsNodePluginOptions } from '@qualtrics-relay/node-plugin'

export interface ModeResult {
  events: number
  /** Events per second from the first `track()` until `closeAndFlush()` resolved (all accepted). */
  acceptedPerSecond: number
  /** Events per second from the first `track()` until everything was in the sandbox. */
  deliveredPerSecond: number
  /** Requests the sandbox received (contacts, searches, transaction batches). */
  qualtricsRequests: number
  qualtricsRequestsPerEvent: number
  /** Transactions written, and how many keys were written more than once (must be 0). */
  transactions: number
  duplicateKeys: number
  /** Proxy mode: `POST /v1/batch` requests per event. */
  proxyRequestsPerEvent?: number
}

export interface ThroughputResult {
  events: number
  users: number
  /** The same stream through analytics-node with a destination that does nothing: the ceiling. */
  baseline: { acceptedPerSecond: number }
  direct: ModeResult
  proxy: ModeResult
}

export interface ThroughputOptions {
  /** Events per measured run. Default 5,000. */
  events?: number
  /** Distinct users the events are spread over. Default 250. */
  users?: number
}

const NO_RATE_LIMIT = { requestsPerMinute: 6_000_000, burst: 10_000 }
const quiet = { write: () => undefined }

/** Runs both modes (each after a short warm-up) and returns the figures. Stops by itself. */
export async function runNodePluginThroughput(options: ThroughputOptions = {}): Promise<ThroughputResult> {
  const events = options.events ?? 5_000
  const users = options.users ?? 250
  const sandbox = await startSandbox({ rateLimit: { enabled: false }, requestLogLimit: 10_000_000 })
  const file = {
    server: { port: 0, host: '127.0.0.1' },
    storage: { path: ':memory:' },
    rateLimits: { perIp: false, perWriteKey: false },
    delivery: NO_RATE_LIMIT,
    logLevel: 'silent',
    writeKeys: { wk_bench: { name: 'Bench', mappings: mappings(sandbox) } },
  }
  const env = { QUALTRICS_API_TOKEN: sandbox.token, QUALTRICS_BASE_URL: sandbox.url }
  const proxy = await startServer(parseConfig(env, JSON.stringify(file), 'bench'), {
    logDestination: quiet,
    processMetrics: false,
  })
  try {
    const direct = {
      apiToken: sandbox.token,
      baseUrl: sandbox.url,
      mappings: mappings(sandbox),
      delivery: NO_RATE_LIMIT,
      flushTimeoutMs: 120_000,
      timeoutMs: 120_000,
    }
    const viaProxy = {
      proxyUrl: proxy.url,
      writeKey: 'wk_bench',
      flushTimeoutMs: 120_000,
      timeoutMs: 120_000,
    }

    await baseline(500, users, 'warm-b')
    const baselineResult = await baseline(events, users, 'run-b')
    await run(sandbox, direct, 500, users, 'warm-d')
    const directResult = await run(sandbox, direct, events, users, 'run-d')
    await run(sandbox, viaProxy, 500, users, 'warm-p', () => proxy.engine.flush())
    const proxyResult = await run(sandbox, viaProxy, events, users, 'run-p', () => proxy.engine.flush())
    return { events, users, baseline: baselineResult, direct: directResult, proxy: proxyResult }
  } finally {
    await proxy.close()
    await sandbox.close()
  }
}

function mappings(sandbox: RunningSandbox) {
  return [
    {
      id: 'purchase',
      action: 'upsertContactTransaction' as const,
      fields: { directoryId: sandbox.directoryId, mailingListId: sandbox.mailingListId },
    },
  ]
}

function track(analytics: Analytics, prefix: string, i: number, users: number): void {
  analytics.track({
    userId: `${prefix}-user-${i % users}`,
    messageId: `${prefix}-${i}`,
    event: 'Transaction Created',
    properties: { order: i, total: (i % 97) + 0.5, currency: 'EUR' },
  })
}

async function baseline(
  events: number,
  users: number,
  prefix: string,
): Promise<{ acceptedPerSecond: number }> {
  const analytics = new Analytics({ writeKey: 'bench', disable: true, flushAt: 1 })
  await analytics.register({
    name: 'Nothing',
    type: 'destination',
    version: '0.0.0',
    isLoaded: () => true,
    load: async () => undefined,
    track: async (ctx) => ctx,
  })
  const started = performance.now()
  for (let i = 0; i < events; i++) track(analytics, prefix, i, users)
  await analytics.closeAndFlush({ timeout: 120_000 })
  return { acceptedPerSecond: Math.round((events / (performance.now() - started)) * 1000) }
}

async function run(
  sandbox: RunningSandbox,
  options: Record<string, unknown>,
  events: number,
  users: number,
  prefix: string,
  afterFlush?: () => Promise<void>,
): Promise<ModeResult> {
  sandbox.reset()
  let proxyPosts = 0
  const counting: typeof fetch = (input, init) => {
    if (String(input).endsWith('/v1/batch')) proxyPosts++
    return fetch(input, init)
  }
  const plugin = createQualtricsNodePlugin({ ...options, fetch: counting } as QualtricsNodePluginOptions)
  const analytics = new Analytics({ writeKey: 'bench', disable: true, flushAt: 1 })
  await analytics.register(plugin)
  let failures = 0
  analytics.on('error', () => failures++)

  const started = performance.now()
  for (let i = 0; i < events; i++) track(analytics, prefix, i, users)
  await analytics.closeAndFlush({ timeout: 120_000 })
  const accepted = performance.now() - started
  await plugin.flush()
  await afterFlush?.()
  const delivered = performance.now() - started
  await plugin.close()

  const snapshot = sandbox.inspect()
  if (failures > 0 || snapshot.transactions.length !== events) {
    throw new RangeError(
      `bench run ${prefix}: ${snapshot.transactions.length} of ${events} transactions delivered, ${failures} events failed`,
    )
  }
  const qualtricsRequests = snapshot.requests.length
  const result: ModeResult = {
    events,
    acceptedPerSecond: Math.round((events / accepted) * 1000),
    deliveredPerSecond: Math.round((events / delivered) * 1000),
    qualtricsRequests,
    qualtricsRequestsPerEvent: qualtricsRequests / events,
    transactions: snapshot.transactions.length,
    duplicateKeys: Object.values(snapshot.transactionKeyCounts).filter((n) => n > 1).length,
  }
  if ('proxyUrl' in options) result.proxyRequestsPerEvent = proxyPosts / events
  return result
}
