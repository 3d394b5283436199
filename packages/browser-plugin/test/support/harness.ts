// Test helpers: a real analytics-next loaded offline (spec 1.4), storages that can run out of room,
// a recording fetch, a sendBeacon for jsdom (which has none), and navigator.onLine control.
import {
  parseMappingSet,
  SETTINGS_VERSION,
  type MappingInput,
  type PublicSettings,
} from '@qualtrics-relay/core'
import {
  AnalyticsBrowser,
  type Analytics,
  type CDNSettings,
  type InitOptions,
  type Plugin,
} from '@segment/analytics-next'
import type { StorageLike } from '../../src/index'

export const WRITE_KEY = 'wk_test_browser'

export const MAPPINGS: MappingInput[] = [
  { id: 'contact', action: 'addContactToXmd', fields: { directoryId: 'POOL_abc123' } },
  {
    id: 'purchase',
    action: 'upsertContactTransaction',
    fields: { directoryId: 'POOL_abc123', mailingListId: 'CG_abc123' },
  },
  {
    id: 'survey',
    action: 'triggerXflowWorkflow',
    trigger: 'type = "track" and event = "Survey Requested"',
    fields: {
      workflowUrl: 'https://acme.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=abc',
    },
  },
]

export function settingsFixture(mappings: MappingInput[] = MAPPINGS): PublicSettings {
  return { version: SETTINGS_VERSION, writeKey: WRITE_KEY, mappings: parseMappingSet(mappings) }
}

/** No CDN fetch and no metrics (spec 1.4); `integrations: {}` is enough at run time, the type wants more. */
export const OFFLINE_CDN_SETTINGS = { integrations: {}, metrics: { sampleRate: 0 } } as unknown as CDNSettings

/** analytics-next with no CDN, no Segment.io and no metrics: it makes no request of its own. */
export async function loadAnalytics(plugins: Plugin[], options: InitOptions = {}): Promise<Analytics> {
  const [analytics] = await AnalyticsBrowser.load(
    { writeKey: 'segment-test', cdnSettings: OFFLINE_CDN_SETTINGS, plugins },
    { integrations: { 'Segment.io': false }, disableClientPersistence: true, ...options },
  )
  return analytics
}

export interface MemoryStorage extends StorageLike {
  map: Map<string, string>
  /** Total characters stored. */
  used(): number
}

/** A Storage in memory; `limit` (characters of keys + values) makes setItem throw a quota error beyond it. */
export function memoryStorage(limit = Infinity): MemoryStorage {
  const map = new Map<string, string>()
  const used = () => [...map].reduce((n, [k, v]) => n + k.length + v.length, 0)
  return {
    map,
    used,
    get length() {
      return map.size
    },
    key: (i) => [...map.keys()][i] ?? null,
    getItem: (k) => map.get(k) ?? null,
    setItem(k, v) {
      const before = map.get(k)
      map.set(k, String(v))
      if (used() > limit) {
        if (before === undefined) map.delete(k)
        else map.set(k, before)
        throw new DOMException('The quota has been exceeded.', 'QuotaExceededError')
      }
    },
    removeItem: (k) => void map.delete(k),
  }
}

/** The items held in a storage's queue keys, by key. */
export function persistedQueues(
  storage: StorageLike,
): Record<string, { r: number; q: [number, { messageId: string }][] }> {
  const out: Record<string, { r: number; q: [number, { messageId: string }][] }> = {}
  for (let i = 0; i < storage.length; i++) {
    const key = storage.key(i)!
    if (key.startsWith(`qr:${WRITE_KEY}:q:`)) out[key] = JSON.parse(storage.getItem(key)!)
  }
  return out
}

export interface FetchCall {
  url: string
  method: string
  keepalive: boolean
  contentType: string
}

/** The global fetch, recording each call (the loopback-only guard of the test setup still applies). */
export function recordingFetch(): { fetch: typeof fetch; calls: FetchCall[] } {
  const calls: FetchCall[] = []
  return {
    calls,
    fetch: (input, init = {}) => {
      const headers = new Headers(init.headers)
      calls.push({
        url: String(input),
        method: init.method ?? 'GET',
        keepalive: init.keepalive === true,
        contentType: headers.get('content-type') ?? '',
      })
      return fetch(input, init)
    },
  }
}

/** jsdom has no sendBeacon: this one POSTs the body as text/plain through fetch, as a browser would. */
export function installBeacon(): { calls: string[]; uninstall(): void } {
  const calls: string[] = []
  Object.defineProperty(navigator, 'sendBeacon', {
    configurable: true,
    value: (url: string, data: string) => {
      calls.push(url)
      void fetch(url, {
        method: 'POST',
        body: data,
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
      }).catch(() => {})
      return true
    },
  })
  return { calls, uninstall: () => void delete (navigator as { sendBeacon?: unknown }).sendBeacon }
}

let online = true
Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => online })

/** Sets navigator.onLine and fires `online`/`offline` on window, as a browser does. */
export function setOnline(value: boolean): void {
  online = value
  window.dispatchEvent(new Event(value ? 'online' : 'offline'))
}

/** Polls `check` until it returns a truthy value; fails with `what` after `timeout` ms. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeout = 15_000,
): Promise<Exclude<T, undefined | null | false | '' | 0>> {
  const end = Date.now() + timeout
  for (;;) {
    const value = await check()
    if (value) return value as Exclude<T, undefined | null | false | '' | 0>
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** A logger that keeps the plugin's debug lines, to wait for what it did. */
export function recordingLogger(): { lines: string[]; logger: (message: string) => void } {
  const lines: string[] = []
  return { lines, logger: (message) => void lines.push(message) }
}
