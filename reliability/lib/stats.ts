// Small measurements over lists of numbers and of the sandbox's request log.

/** The p-th percentile (0–100) of `values` (nearest rank); NaN for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank] as number
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length
}

/** The most timestamps (ms) that fall in any window `[t, t + windowMs)`. */
export function maxInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b)
  let best = 0
  let start = 0
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] as number) - (sorted[start] as number) >= windowMs) start++
    best = Math.max(best, end - start + 1)
  }
  return best
}

/**
 * How full a leaky bucket of `perMinute` gets from requests at `times` (ms, any order): the largest
 * (requests − rate × Δt) over every window between two of them. A limit with bucket size `burst` was
 * kept when this is at most `burst`.
 */
export function fullestBucket(times: readonly number[], perMinute: number): number {
  const perMs = perMinute / 60_000
  let level = 0
  let fullest = 0
  let last = Number.NEGATIVE_INFINITY
  for (const at of [...times].sort((a, b) => a - b)) {
    level = Math.max(0, level - perMs * (at - last)) + 1
    last = at
    fullest = Math.max(fullest, level)
  }
  return fullest
}

/** Least-squares slope of `y` over `x` (units of y per unit of x). */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length
  if (n < 2) return 0
  const mx = mean(points.map((p) => p.x))
  const my = mean(points.map((p) => p.y))
  let num = 0
  let den = 0
  for (const p of points) {
    num += (p.x - mx) * (p.y - my)
    den += (p.x - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

/** A request of the sandbox's log: `time` is when it was answered, `ms` how long it took. */
export interface LoggedRequest {
  time: string
  ms: number
}

/** When each logged request arrived at the sandbox, in ms since the epoch. */
export function arrivalTimes(requests: readonly LoggedRequest[]): number[] {
  return requests.map((r) => Date.parse(r.time) - r.ms)
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
