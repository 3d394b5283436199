// The fleet's one Qualtrics rate budget as the panel shows it: the token bucket every instance draws
// from, as the instances report it in /metrics (relay_rate_budget_*{scope="fleet"}: each reads the one
// row in the database, refilled up to now). The freshest report of any instance that is up is shown.

/** The three gauges, from one instance's /metrics. */
export interface BudgetReport {
  tokens: number
  /** The rate in force: the configured one, or less for a while after a 429. */
  requestsPerMinute: number
  /** When the pause after a 429 ends (ms since the epoch); 0 when not paused. */
  pausedUntil: number
  /** The instance that reported it. */
  from: string
}

export interface BucketView {
  /** Tokens in the bucket now (0 to burst). */
  level: number
  burst: number
  /** The fleet's configured rate. */
  requestsPerMinute: number
  /** The share of that rate in force: 1, or less for a while after a 429. */
  rateFactor: number
  /** How long the bucket stays paused after a 429 (0 when not paused). */
  pausedForMs: number
  /** The instance whose /metrics it comes from. */
  reportedBy: string
}

const GAUGE = {
  tokens: 'relay_rate_budget_tokens{scope="fleet"}',
  requestsPerMinute: 'relay_rate_budget_requests_per_minute{scope="fleet"}',
  pausedUntil: 'relay_rate_budget_paused_until_seconds{scope="fleet"}',
}

/** The shared budget in one instance's metrics (name{labels} → value); undefined when it has none. */
export function readBudgetReport(metrics: Map<string, number>, from: string): BudgetReport | undefined {
  const tokens = metrics.get(GAUGE.tokens)
  const requestsPerMinute = metrics.get(GAUGE.requestsPerMinute)
  if (tokens === undefined || requestsPerMinute === undefined) return undefined
  return { tokens, requestsPerMinute, pausedUntil: (metrics.get(GAUGE.pausedUntil) ?? 0) * 1000, from }
}

export function bucketView(
  report: BudgetReport,
  fleet: { requestsPerMinute: number; burst: number },
  now = Date.now(),
): BucketView {
  return {
    level: Math.max(0, Math.min(fleet.burst, report.tokens)),
    burst: fleet.burst,
    requestsPerMinute: fleet.requestsPerMinute,
    rateFactor: report.requestsPerMinute / fleet.requestsPerMinute,
    pausedForMs: Math.max(0, report.pausedUntil - now),
    reportedBy: report.from,
  }
}
