// Prometheus metrics (prom-client), one registry per app so several apps can live in one process.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type {
  CircuitSnapshot,
  CircuitState,
  RateBudgetSnapshot,
  StateCounts,
} from '@qualtrics-relay/core/server'

export interface ProxyMetrics {
  registry: Registry
  accepted: Counter<'write_key' | 'action'>
  duplicate: Counter<'write_key' | 'action'>
  rejected: Counter<'write_key' | 'code'>
  delivered: Counter<'action'>
  retried: Counter<'action' | 'code'>
  deadLettered: Counter<'action' | 'code'>
  qualtricsCalls: Counter<'method' | 'endpoint' | 'status'>
  qualtricsDuration: Histogram<'method' | 'endpoint'>
  deliveryLatency: Histogram<'action'>
  httpDuration: Histogram<'method' | 'route' | 'status'>
  refused: Counter<'code'>
  circuitOpened: Counter
  /** 1 when Qualtrics answered the last call (any status below 500), 0 when it did not (network, timeout, 5xx). */
  qualtricsUp: Gauge
  /** Connections closed at once because their address already held `maxConnectionsPerAddress`. */
  connectionsRefused: Counter
}

const CIRCUIT_STATES: readonly CircuitState[] = ['closed', 'open', 'probing']

export interface MetricsOptions {
  /** Reads the queue depth on each scrape. */
  queueDepth?: () => Promise<StateCounts>
  /** Reads the Qualtrics circuit on each scrape. */
  circuitState?: () => Promise<CircuitSnapshot>
  /** Reads the Qualtrics rate budget on each scrape (once for its three gauges). */
  rateBudget?: () => Promise<RateBudgetSnapshot | undefined>
  /** Reads when the oldest undelivered item was accepted, on each scrape. */
  oldestPendingAt?: () => Promise<number | undefined>
  /** Epoch ms, for the age of the oldest item. Default `Date.now`. */
  now?: () => number
  /** Process metrics (CPU, memory, event loop). Default: true. */
  processMetrics?: boolean
}

export function createMetrics({
  queueDepth,
  circuitState,
  rateBudget,
  oldestPendingAt,
  now = Date.now,
  processMetrics = true,
}: MetricsOptions = {}): ProxyMetrics {
  const registry = new Registry()
  if (processMetrics) collectDefaultMetrics({ register: registry, prefix: 'relay_' })
  const registers = [registry]
  const latencyBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]

  if (queueDepth) {
    new Gauge({
      name: 'relay_queue_depth',
      help: 'Delivery items by state (pending, leased, delivered, dead).',
      labelNames: ['state'],
      registers,
      async collect() {
        try {
          const counts = await queueDepth()
          for (const [state, n] of Object.entries(counts)) this.set({ state }, n)
        } catch {
          // A closed or failing store shows as missing values, not a failed scrape.
        }
      },
    })
  }

  if (circuitState) {
    new Gauge({
      name: 'relay_qualtrics_circuit_state',
      help: 'The Qualtrics circuit: 1 for the state it is in (closed: sending; open: Qualtrics failing, items held back; probing: one request testing Qualtrics), 0 for the others.',
      labelNames: ['state'],
      registers,
      async collect() {
        try {
          const { state } = await circuitState()
          for (const s of CIRCUIT_STATES) this.set({ state: s }, s === state ? 1 : 0)
        } catch {
          // shown as missing values, not a failed scrape
        }
      },
    })
  }

  if (rateBudget) rateBudgetGauges(rateBudget, registers)

  if (oldestPendingAt) {
    new Gauge({
      name: 'relay_oldest_pending_age_seconds',
      help: 'Age of the oldest item not yet delivered (pending or in flight), since it was accepted or replayed; 0 when none.',
      registers,
      async collect() {
        try {
          const at = await oldestPendingAt()
          this.set(at === undefined ? 0 : Math.max(0, now() - at) / 1000)
        } catch {
          // shown as missing, not a failed scrape
        }
      },
    })
  }

  return {
    registry,
    accepted: new Counter({
      name: 'relay_items_accepted_total',
      help: 'Items accepted and stored for delivery.',
      labelNames: ['write_key', 'action'],
      registers,
    }),
    duplicate: new Counter({
      name: 'relay_items_duplicate_total',
      help: 'Items answered as duplicates (messageId and mapping seen before).',
      labelNames: ['write_key', 'action'],
      registers,
    }),
    rejected: new Counter({
      name: 'relay_items_rejected_total',
      help: 'Items refused, by error code.',
      labelNames: ['write_key', 'code'],
      registers,
    }),
    delivered: new Counter({
      name: 'relay_items_delivered_total',
      help: 'Items delivered to Qualtrics.',
      labelNames: ['action'],
      registers,
    }),
    retried: new Counter({
      name: 'relay_items_retried_total',
      help: 'Delivery attempts that failed and were scheduled again.',
      labelNames: ['action', 'code'],
      registers,
    }),
    deadLettered: new Counter({
      name: 'relay_items_dead_lettered_total',
      help: 'Items moved to the dead-letter store.',
      labelNames: ['action', 'code'],
      registers,
    }),
    qualtricsCalls: new Counter({
      name: 'relay_qualtrics_requests_total',
      help: 'Requests sent to Qualtrics, by endpoint and HTTP status ("none" when no answer came).',
      labelNames: ['method', 'endpoint', 'status'],
      registers,
    }),
    qualtricsDuration: new Histogram({
      name: 'relay_qualtrics_request_duration_seconds',
      help: 'Duration of requests to Qualtrics.',
      labelNames: ['method', 'endpoint'],
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    deliveryLatency: new Histogram({
      name: 'relay_delivery_latency_seconds',
      help: 'Time from acceptance to delivery.',
      labelNames: ['action'],
      buckets: latencyBuckets,
      registers,
    }),
    httpDuration: new Histogram({
      name: 'relay_http_request_duration_seconds',
      help: 'Duration of HTTP requests to the proxy.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    refused: new Counter({
      name: 'relay_requests_refused_total',
      help: 'Requests refused as a whole, by error code.',
      labelNames: ['code'],
      registers,
    }),
    circuitOpened: new Counter({
      name: 'relay_qualtrics_circuit_opened_total',
      help: 'Times the Qualtrics circuit opened (calls failed across the board: 5xx, timeouts, network errors).',
      registers,
    }),
    qualtricsUp: new Gauge({
      name: 'relay_qualtrics_up',
      help: 'Whether Qualtrics answered the last call, token checks included (1: a status below 500), or not (0: network error, timeout, 5xx).',
      registers,
    }),
    connectionsRefused: new Counter({
      name: 'relay_connections_refused_total',
      help: 'Connections closed at once because their address already held server.maxConnectionsPerAddress.',
      registers,
    }),
  }
}

/**
 * The rate budget's bucket, labelled by `scope`: `fleet` on PostgreSQL, where every instance reads the
 * same shared row (do not sum it over instances), `instance` for a process's own bucket. The three
 * gauges of one scrape share one read (on PostgreSQL, one query).
 */
function rateBudgetGauges(read: () => Promise<RateBudgetSnapshot | undefined>, registers: Registry[]): void {
  let reading: Promise<RateBudgetSnapshot | undefined> | undefined
  const once = () => {
    reading ??= read().finally(() => {
      reading = undefined
    })
    return reading
  }
  const gauge = (name: string, help: string, value: (s: RateBudgetSnapshot) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['scope'],
      registers,
      async collect() {
        try {
          const snapshot = await once()
          this.reset()
          if (snapshot !== undefined) this.set({ scope: snapshot.scope }, value(snapshot))
        } catch {
          // shown as missing, not a failed scrape
        }
      },
    })
  gauge(
    'relay_rate_budget_tokens',
    'Tokens in the Qualtrics rate budget: requests that may start at once (scope "fleet": the bucket every instance on the database shares).',
    (s) => s.tokens,
  )
  gauge(
    'relay_rate_budget_requests_per_minute',
    'The Qualtrics request rate in force: delivery.requestsPerMinute, or less after a 429 (halved, climbing back over rateLimitRecoveryMs).',
    (s) => s.requestsPerMinute,
  )
  gauge(
    'relay_rate_budget_paused_until_seconds',
    'When the pause after a Qualtrics 429 ends (Unix time in seconds); 0 when not paused.',
    (s) => s.pausedUntil / 1000,
  )
}

const ID_SEGMENT = /^(POOL|CG|CID|CTR|CGC|BT|SV|UR|OC|URH)_[A-Za-z0-9]+$/

/** A Qualtrics path with its ids replaced, for a low-cardinality label: `/API/v3/directories/{id}/contacts`. */
export function endpointLabel(path: string): string {
  return path
    .split('/')
    .map((segment) => (ID_SEGMENT.test(segment) ? '{id}' : segment))
    .join('/')
}
