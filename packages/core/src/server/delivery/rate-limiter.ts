// The rate budget of an engine's Qualtrics calls: one token bucket for all of them, slowed down as a
// whole when Qualtrics answers 429 (in process here; the PostgreSQL store has one shared by a fleet),
// and a cap on concurrent requests.

import { RelayError } from '../../errors'
import type { Clock } from './clock'

/** Rejects the waiters of a limiter whose engine is stopping; their items are released, not failed. */
export class LimiterAbortedError extends RelayError {
  override readonly name = 'LimiterAbortedError'
  constructor(message: string) {
    super('DELIVERY_FAILED', message, { retryable: true })
  }
}

export interface RateLimiterOptions {
  clock: Clock
  /** Steady rate when Qualtrics is not pushing back. */
  requestsPerSecond: number
  /** Bucket capacity: how many requests may go out at once after a quiet period. */
  burst: number
  /** After a 429 the rate halves (down to `minFactor` × the rate) and climbs back linearly over this. */
  recoveryMs: number
  /** Pause after a 429 without Retry-After: `pauseBaseMs`, doubling per consecutive 429, up to `pauseMaxMs`. */
  pauseBaseMs: number
  pauseMaxMs: number
  minFactor?: number
}

/**
 * How many Qualtrics requests may start, and when. The engine asks before every request and reports
 * 429s and successes. `createRateLimiter` is the in-process bucket; a shared one (one row in a database)
 * keeps one brand-wide limit for several processes. The sync methods answer from what the budget knows
 * locally; a shared budget updates its row in the background.
 */
export interface RateBudget {
  /** Resolves when one request may start. Rejects with LimiterAbortedError when `signal` aborts. */
  acquire(signal?: AbortSignal): Promise<void>
  /** Qualtrics answered 429: pause every caller (honouring `retryAfterMs`) and lower the rate. Returns the pause. */
  onRateLimited(retryAfterMs?: number): number
  /** A request succeeded: consecutive 429s are forgotten. */
  onSuccess(): void
  /** When the current pause ends (0 when not paused). */
  pausedUntil(): number
  /** The rate in force now, in requests per second. */
  currentRate(): number
  /** The bucket as it is now, for metrics (a shared budget reads its row: one query). */
  snapshot(): Promise<RateBudgetSnapshot>
}

/** What a rate budget shows at one moment. */
export interface RateBudgetSnapshot {
  /** `fleet`: one budget shared by every instance on a database; `instance`: this process's own. */
  scope: 'fleet' | 'instance'
  /** Tokens in the bucket: requests that may start at once. */
  tokens: number
  /** The rate in force, in requests per minute: the configured one, or less after a 429 (climbing back). */
  requestsPerMinute: number
  /** When the pause after a 429 ends (ms since the epoch); 0 when not paused. */
  pausedUntil: number
}

/** The in-process budget (the name the engine has always used). */
export type RateLimiter = RateBudget

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { clock, requestsPerSecond, burst, recoveryMs, pauseBaseMs, pauseMaxMs } = options
  const minFactor = options.minFactor ?? 0.1
  let tokens = burst
  let last = clock.now()
  let pauseEnd = 0
  let consecutive429 = 0
  let factorAfter429 = 1
  let last429 = Number.NEGATIVE_INFINITY
  let chain: Promise<void> = Promise.resolve()

  function factor(now: number): number {
    if (factorAfter429 >= 1) return 1
    const f = factorAfter429 + (now - last429) / recoveryMs
    if (f >= 1) factorAfter429 = 1
    return Math.min(1, f)
  }

  function rate(now: number): number {
    return requestsPerSecond * factor(now)
  }

  function refill(now: number): void {
    if (now > last) tokens = Math.min(burst, tokens + ((now - last) / 1000) * rate(now))
    last = Math.max(last, now)
  }

  async function take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) throw new LimiterAbortedError('stopped while waiting for a rate-limit token')
      const now = clock.now()
      refill(now)
      if (now < pauseEnd) {
        await clock.sleep(pauseEnd - now, signal)
        continue
      }
      if (tokens >= 1) {
        tokens -= 1
        return
      }
      await clock.sleep(Math.max(1, Math.ceil(((1 - tokens) / rate(now)) * 1000)), signal)
    }
  }

  return {
    acquire(signal?: AbortSignal): Promise<void> {
      const turn = chain.then(() => take(signal))
      chain = turn.catch(() => undefined)
      return turn
    },
    onRateLimited(retryAfterMs?: number): number {
      const now = clock.now()
      consecutive429++
      factorAfter429 = Math.max(minFactor, factor(now) / 2)
      last429 = now
      tokens = 0
      const backoff = Math.min(pauseMaxMs, pauseBaseMs * 2 ** (consecutive429 - 1))
      const pause = retryAfterMs !== undefined && retryAfterMs >= 0 ? retryAfterMs : backoff
      pauseEnd = Math.max(pauseEnd, now + pause)
      // No tokens accrue during the pause: it ends with an empty bucket, not a burst into the limit again.
      last = Math.max(last, pauseEnd)
      return pauseEnd - now
    },
    onSuccess(): void {
      consecutive429 = 0
    },
    pausedUntil: () => (pauseEnd > clock.now() ? pauseEnd : 0),
    currentRate: () => rate(clock.now()),
    snapshot: () => {
      const now = clock.now()
      return Promise.resolve({
        scope: 'instance',
        // As `refill` would have it now (during a pause `last` is its end, so the bucket shows empty).
        tokens: now > last ? Math.min(burst, tokens + ((now - last) / 1000) * rate(now)) : tokens,
        requestsPerMinute: rate(now) * 60,
        pausedUntil: pauseEnd > now ? pauseEnd : 0,
      })
    },
  }
}

export interface Semaphore {
  acquire(signal?: AbortSignal): Promise<void>
  release(): void
  /** Holders right now. */
  active(): number
}

/** At most `size` holders at a time, first come first served. */
export function createSemaphore(size: number): Semaphore {
  let held = 0
  let waiters: { resolve: () => void; reject: (e: unknown) => void; signal: AbortSignal | undefined }[] = []
  // One abort listener per signal, not one per waiter: an engine's waiters share its signal, and
  // EventTarget walks its listener list on every add and remove (thousands of waiters under a limit).
  const watched = new WeakSet<AbortSignal>()
  function watch(signal: AbortSignal): void {
    if (watched.has(signal)) return
    watched.add(signal)
    signal.addEventListener(
      'abort',
      () => {
        const stopped = waiters.filter((w) => w.signal === signal)
        waiters = waiters.filter((w) => w.signal !== signal)
        for (const w of stopped) w.reject(new LimiterAbortedError('stopped while waiting for a request slot'))
      },
      { once: true },
    )
  }
  return {
    acquire(signal?: AbortSignal): Promise<void> {
      if (signal?.aborted)
        return Promise.reject(new LimiterAbortedError('stopped while waiting for a request slot'))
      if (held < size) {
        held++
        return Promise.resolve()
      }
      return new Promise((resolve, reject) => {
        if (signal !== undefined) watch(signal)
        waiters.push({ resolve, reject, signal })
      })
    },
    release(): void {
      const next = waiters.shift()
      if (next === undefined) held = Math.max(0, held - 1)
      else next.resolve()
    },
    active: () => held,
  }
}
