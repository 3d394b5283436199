// The queue: this tab's mapped items, written to storage before they are sent, sent in batches, retried
// with backoff, and flushed with keepalive fetch (sendBeacon beyond the keepalive budget) when the page
// is hidden.
//
// Several tabs. Each plugin instance owns one key, `qr:<writeKey>:q:<random id>`, holding
// `{ t: time of the last write, r: 1 once released, q: [[queuedAt, BatchItem], …] }`, and only its owner
// writes it. While it holds items, the owner rewrites the key at least every 30 s (a heartbeat). On
// `pagehide` (and on `unload()`) the key is marked released. Any instance adopts a released key at once,
// and any key not written for 5 minutes (a crashed or killed tab): it copies the items into its own key
// first and removes the old key after, so an item is always in some key. Two instances adopting the same
// key at the same instant, or a frozen tab waking up after its items were adopted, can send an item
// twice; the proxy deduplicates by messageId + mapping and answers `duplicate`.
import { RelayError, type BatchItem, type BatchResponse, type ErrorBody } from '@qualtrics-relay/core'
import type { Context } from '@segment/analytics-next'
import type { Resolved } from './options'
import { backoff, MAX_WAIT, read, timeout } from './util'

interface Entry {
  /** `<messageId> <mapping>`: what duplicates are recognised by. */
  k: string
  /** When it was queued, ms since the epoch. */
  t: number
  /** The item as JSON: a snapshot, and what goes on the wire. */
  j: string
  /** Its size in bytes. */
  b: number
  /** The event's ctx while this page has it, to report a final failure on. */
  c?: Context | undefined
  /** 1 while a request carries it; 2 once handed to sendBeacon (its fate is unknown). */
  f?: number
}

/** A key not written for this long belongs to a tab that is gone. */
const STALE = 5 * 60_000
/** The most bytes per request: two fit in the 64 KiB that a page's keepalive requests share. */
const BODY = 30_000
const KEEPALIVE = 60_000

export interface Queue {
  add(item: BatchItem, ctx?: Context): void
  start(): void
  stop(): void
}

export function createQueue(o: Resolved, report: (error: RelayError, ctx?: Context) => void): Queue {
  const { storage, log, batchSize, maxQueueItems, maxQueueBytes, maxAgeMs } = o
  const prefix = `qr:${o.writeKey}:q:`
  const me = prefix + Math.random().toString(36).slice(2)
  const url = `${o.base}batch`
  const seen = new Set<string>()
  let q: Entry[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  let due = 0
  let busy = false
  let released = false
  let attempt = 0
  let until = 0
  /** Bytes of this instance's keepalive requests in flight. */
  let inflight = 0

  const size = (s: string) => new Blob([s]).size
  const entry = (t: number, item: BatchItem, c?: Context): Entry => {
    const j = JSON.stringify(item)
    return { k: `${item.messageId} ${item.mapping}`, t, j, b: size(j), c }
  }
  const body = (batch: Entry[]) =>
    `{"writeKey":${JSON.stringify(o.writeKey)},"sentAt":"${new Date().toISOString()}","items":[${batch.map((e) => e.j).join()}]}`
  const fail = (e: Entry, why: string, status: number) =>
    report(
      new RelayError('DELIVERY_FAILED', `Qualtrics did not get ${e.k.replace(' ', ', mapping ')}: ${why}`, {
        status,
      }),
      e.c,
    )

  // Writes the queue; when storage refuses it (quota), the oldest items stay in memory only.
  const save = () => {
    for (let list = q; ; list = list.slice(1)) {
      try {
        return list.length
          ? storage.setItem(
              me,
              `{"t":${Date.now()},"r":${+released},"q":[${list.map((e) => `[${e.t},${e.j}]`).join()}]}`,
            )
          : storage.removeItem(me)
      } catch {
        log('storage full', list.length)
        if (!list.length) return
      }
    }
  }

  const push = (e: Entry) => {
    if (seen.has(e.k)) return log('duplicate skipped', e.k)
    seen.add(e.k)
    if (seen.size > 2000) seen.delete(seen.values().next().value!)
    q.push(e)
  }

  // Drops what no longer fits, oldest first: too old, too many, too many bytes.
  const trim = () => {
    const old = Date.now() - maxAgeMs
    let bytes = 0
    for (const e of q) bytes += e.b
    while (q.length && (q.length > maxQueueItems || bytes > maxQueueBytes || q[0]!.t < old)) {
      const e = q.shift()!
      bytes -= e.b
      fail(
        e,
        `dropped from the queue (limits: ${maxQueueItems} items, ${maxQueueBytes} bytes, ${maxAgeMs} ms)`,
        507,
      )
    }
  }

  // Takes over the keys of released or stale instances (see the top of this file).
  const adopt = () => {
    try {
      const keys: string[] = []
      for (let i = 0; i < storage.length; i++) keys.push(storage.key(i) || '')
      for (const k of keys) {
        if (!k.startsWith(prefix) || k == me) continue
        const v = read<{ t: number; r: number; q: [number, BatchItem][] }>(storage, k)
        if (v && !v.r && Date.now() - v.t < STALE) continue
        for (const [t, item] of (v && v.q) || []) if (item && item.messageId) push(entry(t, item))
        log('adopted a queue', k)
        q.sort((a, b) => a.t - b.t)
        trim()
        save()
        storage.removeItem(k)
      }
    } catch {
      // storage unreadable: this instance goes on with its own queue
    }
  }

  // Schedules a flush in `ms`, unless one is due sooner.
  const arm = (ms: number) => {
    if (q.length && (!timer || Date.now() + ms < due)) {
      clearTimeout(timer)
      due = Date.now() + ms
      timer = setTimeout(flush, ms)
    }
  }
  const flush = () => {
    clearTimeout(timer)
    timer = undefined
    void send()
  }

  // Up to batchSize items and BODY bytes (one bigger item goes alone).
  const take = (list: Entry[]) => {
    const batch: Entry[] = []
    let n = 0
    for (const e of list) {
      if (batch.length == batchSize || (batch.length && n + e.b > BODY)) break
      batch.push(e)
      n += e.b + 1
    }
    return batch
  }

  // The proxy answered: accepted and duplicate items leave the queue; rejected ones, or all of them when
  // the whole batch was refused (4xx), are reported and leave it too.
  const settle = async (batch: Entry[], res: Response) => {
    const { ok, status } = res
    const rejected = new Map<string, string>()
    const describe = (error?: { code: string; message: string }) =>
      error ? `${error.code}: ${error.message}` : ''
    let refusal = `HTTP ${status}`
    try {
      const answer = await res.json()
      if (!ok) refusal += ` ${describe((answer as ErrorBody).error)}`
      for (const r of ok ? (answer as BatchResponse).results : []) {
        if (r.status == 'rejected') rejected.set(`${r.messageId} ${r.mapping}`, describe(r.error))
      }
    } catch {
      // 2xx means stored; an unreadable answer only loses the details
    }
    q = q.filter((e) => !batch.includes(e))
    log(`batch of ${batch.length} answered`, status)
    for (const e of batch) {
      const why = rejected.get(e.k)
      if (!ok) fail(e, `the proxy refused the batch (${refusal})`, status)
      else if (why !== undefined) fail(e, `the proxy rejected it (${why})`, 400)
    }
    save()
  }

  // One request; on a network error, 408, 429 or 5xx its items stay queued until the backoff is over.
  // `signal` aborts a request the proxy never answers (not on unload, where nothing waits for it).
  const post = async (
    batch: Entry[],
    data: string,
    keepalive: number,
    type: string,
    signal: AbortSignal | null,
  ) => {
    for (const e of batch) e.f = 1
    inflight += keepalive
    let res: Response | undefined
    try {
      res = await o.fetch(url, {
        method: 'POST',
        keepalive: keepalive > 0,
        headers: { 'Content-Type': type },
        body: data,
        signal,
      })
    } catch (error) {
      log('batch request failed', error)
    }
    inflight -= keepalive
    for (const e of batch) e.f = 0
    const wait = backoff(res, attempt)
    if (wait !== undefined || !res) {
      attempt++
      until = Date.now() + wait!
      log(`batch of ${batch.length} to be retried in ${Math.round(wait!)} ms`, res && res.status)
    } else {
      attempt = 0
      await settle(batch, res)
    }
    arm(Math.max(0, until - Date.now()))
  }

  const send = async () => {
    if (busy || released) return
    adopt()
    trim()
    const wait = until - Date.now()
    if (!navigator.onLine || wait > 0) {
      save() // also the heartbeat
      log(wait > 0 ? 'waiting to retry' : 'offline', q.length)
      return arm(wait > 0 ? Math.min(wait, MAX_WAIT) : MAX_WAIT)
    }
    const batch = take(q.filter((e) => e.f != 1))
    if (!batch.length) return
    busy = true
    const data = body(batch)
    const n = size(data)
    await post(batch, data, n <= KEEPALIVE - inflight ? n : 0, 'application/json', timeout())
    busy = false
  }

  // Page hidden or going away: send what is not in flight now, keepalive first, then sendBeacon (both as
  // text/plain, which needs no CORS preflight). Whatever was sent stays queued until the proxy answers.
  const hide = (release: boolean) => {
    released ||= release
    trim()
    save()
    let list = q.filter((e) => !e.f)
    while (navigator.onLine && list.length) {
      const batch = take(list)
      list = list.slice(batch.length)
      const data = body(batch)
      const n = size(data)
      if (n <= KEEPALIVE - inflight) void post(batch, data, n, 'text/plain', null)
      else if (navigator.sendBeacon && navigator.sendBeacon(url, data)) for (const e of batch) e.f = 2
      else break
    }
    log(release ? 'page hidden; queue released' : 'page hidden')
  }

  const onVisibility = () => (document.visibilityState == 'hidden' ? hide(false) : flush())
  const onHide = () => hide(true)
  // Back from the back/forward cache: if another tab adopted the released queue meanwhile, it is theirs.
  const onShow = () => {
    if (!released) return
    released = false
    if (read(storage, me) === undefined) q = []
    save()
    flush()
  }
  const onOnline = () => {
    until = attempt = 0
    flush()
  }
  const listen = (m: 'addEventListener' | 'removeEventListener') => {
    window[m]('pagehide', onHide)
    window[m]('pageshow', onShow)
    window[m]('online', onOnline)
    document[m]('visibilitychange', onVisibility)
  }

  return {
    add(item, ctx) {
      const n = q.length
      push(entry(Date.now(), item, ctx))
      if (q.length == n) return
      trim()
      save()
      if (q.length >= batchSize) flush()
      else arm(o.flushIntervalMs)
    },
    start() {
      listen('addEventListener')
      adopt()
      flush()
    },
    stop() {
      listen('removeEventListener')
      clearTimeout(timer)
      released = true
      save()
    },
  }
}
