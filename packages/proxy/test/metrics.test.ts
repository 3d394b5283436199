// The rate budget's gauges read the budget once per scrape (on PostgreSQL a read is a query), carry
// the budget's scope, and show nothing rather than failing the scrape when the read fails.
import type { RateBudgetSnapshot } from '@qualtrics-relay/core/server'
import { describe, expect, it } from 'vitest'
import { createMetrics } from '../src/metrics'

describe('the rate budget gauges', () => {
  it('read the budget once per scrape for all three, labelled with its scope', async () => {
    let reads = 0
    const snapshot: RateBudgetSnapshot = {
      scope: 'fleet',
      tokens: 7.5,
      requestsPerMinute: 1200,
      pausedUntil: 1_700_000_030_000,
    }
    const metrics = createMetrics({
      processMetrics: false,
      rateBudget: () => {
        reads++
        return Promise.resolve(snapshot)
      },
    })
    const text = await metrics.registry.metrics()
    expect(reads).toBe(1)
    expect(text.split('\n').filter((line) => line.startsWith('relay_rate_budget_'))).toEqual([
      'relay_rate_budget_tokens{scope="fleet"} 7.5',
      'relay_rate_budget_requests_per_minute{scope="fleet"} 1200',
      'relay_rate_budget_paused_until_seconds{scope="fleet"} 1700000030',
    ])
    await metrics.registry.metrics()
    expect(reads).toBe(2)
  })

  it('show no values, and the scrape still answers, when the budget cannot be read', async () => {
    const metrics = createMetrics({
      processMetrics: false,
      rateBudget: () => Promise.reject(new Error('connection refused')),
    })
    const text = await metrics.registry.metrics()
    expect(text).toContain('# TYPE relay_rate_budget_tokens gauge')
    expect(text.split('\n').filter((line) => /^relay_rate_budget_\w+\{/.test(line))).toEqual([])
  })
})
