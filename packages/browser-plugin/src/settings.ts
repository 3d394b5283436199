// The mappings, loaded from the proxy, cached in storage and revalidated with the ETag on every page
// load. With a cached copy the plugin starts at once; without one, events wait for the first answer.
// Network errors, 408, 429 and 5xx are retried; another status is final and reported.
import { RelayError, type PublicSettings } from '@qualtrics-relay/core'
import type { Resolved } from './options'
import { backoff, read, request } from './util'

/**
 * Calls `set` with the cached settings (if any) at once, then with each newer copy from the proxy, or
 * with a final error. Returns a function that stops the retries.
 */
export function loadSettings(o: Resolved, set: (s: PublicSettings | RelayError) => void): () => void {
  // The cache's format version is in its key (`s2`): a copy written by an older plugin is ignored.
  const key = `qr:${o.writeKey}:s2`
  const cached = read<{ e: string | null; s: PublicSettings }>(o.storage, key)
  let tag = cached && cached.e
  let timer: ReturnType<typeof setTimeout> | undefined
  if (cached && cached.s && Array.isArray(cached.s.mappings)) set(cached.s)

  const get = async (attempt: number): Promise<void> => {
    const res = await request(o, `settings?writeKey=${encodeURIComponent(o.writeKey)}`, {
      headers: tag ? { 'If-None-Match': tag } : {},
    })
    // A proxy that does not allow If-None-Match in CORS fails the conditional request: ask plainly.
    if (!res) tag = undefined
    const status = res ? res.status : 0
    if (status == 304) return
    const s: PublicSettings | 0 = status == 200 && (await res!.json().catch(() => 0))
    if (s && Array.isArray(s.mappings)) {
      set(s)
      o.log('settings loaded', s)
      try {
        o.storage!.setItem(key, JSON.stringify({ e: res!.headers.get('etag'), s }))
      } catch {
        // storage refused the copy (quota) or there is none: the settings are in use all the same
      }
      return
    }
    const wait = backoff(res, attempt)
    if (wait === undefined)
      set(
        new RelayError(
          'CONFIG_INVALID',
          `Qualtrics settings could not be loaded from ${o.base}settings (Received: HTTP ${status})`,
          { status },
        ),
      )
    else timer = setTimeout(() => void get(attempt + 1), wait)
  }
  void get(0)
  return () => clearTimeout(timer)
}
