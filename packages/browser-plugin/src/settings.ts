// The mappings: given inline, or loaded from the proxy, cached in storage and revalidated with the ETag
// on every page load. With a cached copy the plugin starts at once; without one, events wait for the
// first answer. Network errors, 5xx and 429 are retried; another status is final and reported.
import { RelayError, type PublicSettings } from '@qualtrics-relay/core'
import type { Resolved } from './options'
import { backoff, read, timeout, write } from './util'

export type SettingsState = PublicSettings | RelayError

export interface SettingsSource {
  /** Resolves once the first settings (or a final error) are known. */
  ready: Promise<unknown>
  /** The latest settings or the final error; undefined until `ready` resolves. */
  current(): SettingsState | undefined
  stop(): void
}

export function loadSettings(o: Resolved): SettingsSource {
  let current: SettingsState | undefined = o.settings
  let done: (v?: unknown) => void = () => {}
  const ready = current ? Promise.resolve() : new Promise((resolve) => (done = resolve))
  let timer: ReturnType<typeof setTimeout> | undefined
  // A final error never replaces settings already in use (from the cache).
  const set = (s: SettingsState) => {
    current = current && s instanceof RelayError ? current : s
    done()
  }

  if (!current) {
    const key = `qr:${o.writeKey}:s`
    const cached = read<{ e: string | null; s: PublicSettings }>(o.storage, key) || { e: null, s: undefined }
    let tag: string | null | undefined = cached.e
    if (cached.s && Array.isArray(cached.s.mappings)) set(cached.s)
    const get = async (attempt: number): Promise<void> => {
      let res: Response | undefined
      try {
        res = await o.fetch(`${o.base}settings?writeKey=${encodeURIComponent(o.writeKey)}`, {
          headers: tag ? { 'If-None-Match': tag } : {},
          signal: timeout(),
        })
      } catch (error) {
        o.log('settings request failed', error)
        // A proxy that does not allow If-None-Match in CORS fails the conditional request: ask plainly.
        tag = undefined
      }
      const status = res ? res.status : 0
      if (status == 304) return o.log('settings unchanged')
      if (res && status == 200) {
        try {
          const s = (await res.json()) as PublicSettings
          if (Array.isArray(s.mappings)) {
            o.log('settings loaded', s)
            write(o.storage, key, JSON.stringify({ e: res.headers.get('etag'), s }))
            return set(s)
          }
        } catch {
          // an unreadable body is reported below as a bad answer
        }
      }
      const wait = backoff(res, attempt)
      if (wait !== undefined) {
        timer = setTimeout(() => void get(attempt + 1), wait)
        return
      }
      const error = new RelayError(
        'CONFIG_INVALID',
        `Qualtrics settings could not be loaded from ${o.base}settings (Received: HTTP ${status})`,
        { status },
      )
      o.log(error.message)
      set(error)
    }
    void get(0)
  }

  return {
    ready,
    current: () => current,
    stop: () => clearTimeout(timer),
  }
}
