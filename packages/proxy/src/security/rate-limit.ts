// In-memory token buckets keyed by client IP or write key. Each bucket refills continuously at
// `perMinute / 60` tokens a second up to `burst`. Full buckets are forgotten, so memory stays bounded
// by the number of clients active within one refill period (plus a hard cap).
import type { TokenBucketConfig } from '../config'

export interface RateLimiter {
  /** Takes one token for `key`: 0 when allowed, otherwise the ms to wait before one is available. */
  take(key: string, now: number): number
  /** Buckets currently held. */
  size(): number
}

interface Bucket {
  tokens: number
  at: number
}

const MAX_BUCKETS = 100_000

export function createRateLimiter({ perMinute, burst }: TokenBucketConfig): RateLimiter {
  const perMs = perMinute / 60_000
  const buckets = new Map<string, Bucket>()
  let lastSweep = 0

  function sweep(now: number): void {
    lastSweep = now
    for (const [key, b] of buckets) {
      if (b.tokens + (now - b.at) * perMs >= burst) buckets.delete(key)
    }
    // Under a flood of distinct keys, drop the oldest entries: they only lose their debt.
    if (buckets.size > MAX_BUCKETS) {
      let excess = buckets.size - MAX_BUCKETS
      for (const key of buckets.keys()) {
        if (excess-- <= 0) break
        buckets.delete(key)
      }
    }
  }

  return {
    take(key, now) {
      if (now - lastSweep > 60_000 || buckets.size > MAX_BUCKETS) sweep(now)
      const b = buckets.get(key) ?? { tokens: burst, at: now }
      b.tokens = Math.min(burst, b.tokens + Math.max(0, now - b.at) * perMs)
      b.at = now
      if (b.tokens >= 1) {
        b.tokens -= 1
        buckets.set(key, b)
        return 0
      }
      buckets.set(key, b)
      return Math.ceil((1 - b.tokens) / perMs)
    },
    size: () => buckets.size,
  }
}
