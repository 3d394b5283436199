// Time, injected: the engine never calls Date.now() or setTimeout itself, so tests can run hours of
// retries and rate-limit pauses in milliseconds.

export interface Clock {
  /** Milliseconds since the epoch (or any fixed origin). */
  now(): number
  /** Resolves after `ms`, or as soon as `signal` aborts (it never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

/** The real clock: `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, Math.max(0, ms))
      signal?.addEventListener('abort', done, { once: true })
    })
  },
}

export interface VirtualClock extends Clock {
  /** Moves time forward by `ms`, waking every sleeper whose time has come. */
  advance(ms: number): void
  /** Moves time forward to `at` (never backwards). */
  advanceTo(at: number): void
  /** Sleepers still waiting. */
  pending(): number
}

interface Sleeper {
  at: number
  seq: number
  resolve: () => void
}

/**
 * A clock for tests. Time moves only when told to (`advance`), or, with `auto: true` (the default),
 * whenever everything else is waiting: each pending sleep is woken in time order on the next
 * macrotask, jumping the clock to its wake-up time. With `auto`, a retry due in an hour is reached
 * as soon as the engine sleeps for it; real I/O (a local HTTP server) still takes real time.
 */
export function createVirtualClock(options: { start?: number; auto?: boolean } = {}): VirtualClock {
  let current = options.start ?? 1_700_000_000_000
  const auto = options.auto ?? true
  let seq = 0
  let sleepers: Sleeper[] = []
  let tickScheduled = false

  function wakeDue(): void {
    const due = sleepers.filter((s) => s.at <= current)
    if (due.length === 0) return
    sleepers = sleepers.filter((s) => s.at > current)
    due.sort((a, b) => a.at - b.at || a.seq - b.seq)
    for (const s of due) s.resolve()
  }

  function scheduleTick(): void {
    if (!auto || tickScheduled) return
    tickScheduled = true
    setImmediate(() => {
      tickScheduled = false
      if (sleepers.length === 0) return
      const first = sleepers.reduce((a, b) => (b.at < a.at || (b.at === a.at && b.seq < a.seq) ? b : a))
      current = Math.max(current, first.at)
      wakeDue()
      if (sleepers.length > 0) scheduleTick()
    })
  }

  return {
    now: () => current,
    sleep(ms: number, signal?: AbortSignal): Promise<void> {
      if (signal?.aborted) return Promise.resolve()
      return new Promise((resolve) => {
        const sleeper: Sleeper = {
          at: current + Math.max(0, ms),
          seq: seq++,
          resolve: () => {
            signal?.removeEventListener('abort', onAbort)
            resolve()
          },
        }
        const onAbort = () => {
          sleepers = sleepers.filter((s) => s !== sleeper)
          sleeper.resolve()
        }
        signal?.addEventListener('abort', onAbort, { once: true })
        sleepers.push(sleeper)
        scheduleTick()
      })
    },
    advance(ms: number): void {
      current += Math.max(0, ms)
      wakeDue()
    },
    advanceTo(at: number): void {
      current = Math.max(current, at)
      wakeDue()
    },
    pending: () => sleepers.length,
  }
}
