// Small helpers shared by the settings loader and the queue.
import type { Resolved, StorageLike } from './options'

export const now = Date.now

/** The longest the plugin waits between two attempts (Retry-After aside), in ms. */
export const MAX_WAIT = 30_000

/**
 * What a request to the proxy came back with: the status (0 when it failed on the network), the parsed
 * JSON body (0 when there is none or it is not JSON), how long to wait before trying again (undefined
 * when the answer is final) and the headers. Network errors, 408, 429 and 5xx are retried; Retry-After
 * (seconds or a date) is honoured; otherwise exponential from 1 s with jitter, capped at MAX_WAIT.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- unknown JSON, read defensively
export type Answer = [status: number, body: any, wait: number | undefined, headers: Headers | undefined]

/**
 * A request to the proxy, `attempt` the number of failed attempts before it. It is aborted after
 * MAX_WAIT where the browser can (AbortSignal.timeout), so a request the proxy never answers does not
 * stall the queue. Never throws.
 */
export async function request(o: Resolved, url: string, init: RequestInit, attempt: number): Promise<Answer> {
  init.signal = AbortSignal.timeout ? AbortSignal.timeout(MAX_WAIT) : null
  let status = 0
  let body = 0
  let headers: Headers | undefined
  try {
    // The global fetch is looked up now, and called unbound (as a method of `o` it would throw).
    const res = await (o.fetch || fetch)(o.base + url, init)
    ;({ status, headers } = res)
    body = await res.json().catch(() => 0)
  } catch (error) {
    o.log('request failed', error)
  }
  const after = headers && headers.get('retry-after')
  const wait = after ? Number(after) * 1000 || Date.parse(after) - now() : NaN
  return [
    status,
    body,
    status && status < 500 && status != 429 && status != 408
      ? undefined
      : wait >= 0
        ? wait
        : Math.min(MAX_WAIT, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2),
    headers,
  ]
}

/** Parsed JSON under `key`; null or undefined when absent, unreadable or storage throws. */
export function read<T>(storage: StorageLike | null | undefined, key: string): T | null | undefined {
  try {
    return JSON.parse(storage!.getItem(key)!)
  } catch {
    // unreadable: treated as absent
  }
}
