// A separate process on one shared rate budget, for the fleet-limit tests: waits for "go" on stdin, then
// keeps CONCURRENCY requests asking for tokens for DURATION_MS. With RATE_LIMITED_AT_MS it reports a
// 429 (Retry-After PAUSE_MS) at that moment. Prints one JSON line: its grants on the database's clock.

import { createInterface } from 'node:readline'
import { createPostgresStore } from '../../src/postgres/index'

const env = (key: string) => process.env[key] ?? ''
const durationMs = Number(env('DURATION_MS'))
const concurrency = Number(env('CONCURRENCY'))
const rateLimitedAt = env('RATE_LIMITED_AT_MS') === '' ? undefined : Number(env('RATE_LIMITED_AT_MS'))

const store = await createPostgresStore({ url: env('STORE_URL'), schema: env('STORE_SCHEMA'), poolSize: 2 })
const grants: { granted: number; at: number }[] = []
const budget = store.createRateBudget({
  name: env('BUDGET_NAME') || 'brand',
  requestsPerMinute: Number(env('PER_MINUTE')),
  burst: Number(env('BURST')),
  recoveryMs: 60_000,
  onGrant: ({ granted, at }) => grants.push({ granted, at }),
})

const lines = createInterface({ input: process.stdin })
process.stdout.write('ready\n')
await new Promise<void>((resolve) => lines.once('line', () => resolve()))
lines.close()

const stop = new AbortController()
setTimeout(() => stop.abort(), durationMs)
if (rateLimitedAt !== undefined)
  setTimeout(() => budget.onRateLimited(Number(env('PAUSE_MS'))), rateLimitedAt)
let used = 0
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (!stop.signal.aborted) {
      try {
        await budget.acquire(stop.signal)
        used++
      } catch {
        return
      }
    }
  }),
)
await store.close()
process.stdout.write(`${JSON.stringify({ grants, used })}\n`)
