// Small helpers shared by the settings loader and the queue.
import type { StorageLike } from './options'

/** The longest the plugin waits between two attempts (Retry-After aside), in ms. */
export const MAX_WAIT = 30_000

/**
 * How long to wait before trying again after `res` (undefined: the request failed on the network),
 * or undefined when the answer is final. Retries network errors, 408, 429 and 5xx; honours Retry-After
 * (seconds or a date); otherwise exponential from 1 s with jitter, capped at MAX_WAIT.
 */
export function backoff(res: Response | undefined, attempt: number): number | undefined {
  const status = res ? res.status : 0
  if (status && status < 500 && status != 429 && status != 408) return undefined
  const after = res && res.headers.get('retry-after')
  const wait = after ? Number(after) * 1000 || Date.parse(after) - Date.now() : NaN
  return wait >= 0 ? wait : Math.min(MAX_WAIT, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2)
}

/** Aborts a request after MAX_WAIT where the browser can (AbortSignal.timeout). */
export const timeout = (): AbortSignal | null => (AbortSignal.timeout ? AbortSignal.timeout(MAX_WAIT) : null)

/** Parsed JSON under `key`, or undefined when absent, unreadable or storage throws. */
export function read<T>(storage: StorageLike | null, key: string): T | undefined {
  try {
    return JSON.parse(storage!.getItem(key)!) || undefined
  } catch {
    return undefined
  }
}

/** Stores `value`; false when storage is off or refuses it (quota, privacy mode). */
export function write(storage: StorageLike | null, key: string, value: string): boolean {
  try {
    storage!.setItem(key, value)
    return true
  } catch {
    return false
  }
}
