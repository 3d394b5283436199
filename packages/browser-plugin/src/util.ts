// Small helpers shared by the settings loader and the queue.
import type { Resolved, StorageLike } from './options'

export const now = Date.now

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
  const wait = after ? Number(after) * 1000 || Date.parse(after) - now() : NaN
  return wait >= 0 ? wait : Math.min(MAX_WAIT, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2)
}

/**
 * A request to the proxy; undefined when it failed on the network. It is aborted after MAX_WAIT where the
 * browser can (AbortSignal.timeout), so a request the proxy never answers does not stall the queue.
 */
export async function request(o: Resolved, url: string, init: RequestInit): Promise<Response | undefined> {
  init.signal = AbortSignal.timeout ? AbortSignal.timeout(MAX_WAIT) : null
  try {
    // The global fetch is looked up now, and called unbound (as a method of `o` it would throw).
    return await (o.fetch || fetch)(o.base + url, init)
  } catch (error) {
    o.log('request failed', error)
  }
}

/** Parsed JSON under `key`; null or undefined when absent, unreadable or storage throws. */
export function read<T>(storage: StorageLike | null | undefined, key: string): T | null | undefined {
  try {
    return JSON.parse(storage!.getItem(key)!)
  } catch {
    // unreadable: treated as absent
  }
}
