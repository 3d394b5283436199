// Bounded waits. Every wait of the plugin goes through here, so no hook, flush or close can hang.

/**
 * Resolves after `ms`. A `ref`ed timer keeps the process alive until it fires (a retry that must happen
 * before the process ends); an unref'ed one does not (polling, guards).
 */
export function sleep(ms: number, options: { ref?: boolean; signal?: AbortSignal } = {}): Promise<void> {
  return new Promise((resolve) => {
    const { ref = true, signal } = options
    if (signal?.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, Math.max(0, ms))
    if (!ref) timer.unref?.()
    signal?.addEventListener('abort', done, { once: true })
  })
}

/**
 * Settles like `work` when it settles within `ms`; otherwise calls `onTimeout()` and rejects with what it
 * returns. `work` keeps running (a queued item stays queued); only the wait ends. The guard timer never
 * keeps the process alive by itself.
 */
export function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), Math.max(0, ms))
    timer.unref?.()
  })
  return Promise.race([work, expired]).finally(() => clearTimeout(timer))
}

/** Exponential backoff with full jitter: a random wait in [base/2, base] where base doubles per attempt. */
export function backoffMs(attempt: number, firstMs = 200, maxMs = 5_000): number {
  const base = Math.min(maxMs, firstMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(base / 2 + Math.random() * (base / 2))
}
