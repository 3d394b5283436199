// The queue: this tab's mapped items, written to storage before they are sent, sent in batches, retried
// with backoff, and flushed with keepalive fetch (sendBeacon beyond the keepalive budget) when the page
// is hidden.
//
// Several tabs. Each plugin instance owns one key, `qr:<writeKey>:q:<random id>`, holding
// `{ t: time of the last write, r: 1 once released, q: [[queuedAt, BatchItem], …] }`, and only its owner
// writes it. It is written before each send, so at least every 30 s while it holds items (a heartbeat).
// On `pagehide` (and on `unload()`) the key is marked released. Any instance adopts a released key at
// once, and any key not written for 5 minutes (a crashed or killed tab): it copies the items into its own
// key first and removes the old key after, so an item is always in some key. Two instances adopting the
// same key at the same instant, or a frozen tab waking up after its items were adopted, can send an item
// twice; the proxy deduplicates by messageId + mapping and answers `duplicate`.
import { RelayError, type BatchItem } from '@qualtrics-relay/core'
import type { Context } from '@segment/analytics-next'
import type { Resolved } from './options'
import { backoff, MAX_WAIT, read, request } from './util'

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

export type Report = (error: RelayError, ctx?: Context) => void
/** What is queued: a BatchItem, its payload as mapped. */
export type Item = Omit<BatchItem, 'payload'> & { payload: object }

export interface Queue {
  add(item: Item, ctx?: Context): void
  start(): void
  stop(): void
}

export function createQueue(o: Resolved, report: Report): Queue {
  const { storage, log, batchSize } = o
  const prefix = `qr:${o.writeKey}:q:`
  const me = prefix + Math.random().toString(36).slice(2)
  const seen = new Set<string>()
  let q: Entry[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  let due = 0
  let busy = 0
  let released = 0
  let attempt = 0
  let until = 0
  /** Bytes of this instance's keepalive requests in flight. */
  let inflight = 0
  /** How many of the oldest items the stored copy leaves out (storage full or absent). */
  let lost = 0

  const size = (s: string) => new Blob([s]).size
  const fail = (e: Entry, why: string, status: number) =>
    report(
      new RelayError('DELIVERY_FAILED', `Qualtrics did not get ${e.k.replace(' ', ', mapping ')}: ${why}`, {
        status,
      }),
      e.c,
    )

  // Queues an item unless its messageId + mapping was seen here; truthy when queued.
  const push = (t: number, item: Item, c?: Context) => {
    const k = item.messageId + ' ' + item.mapping
    if (seen.has(k)) return log('duplicate skipped', k)
    seen.add(k)
    if (seen.size > 2000) seen.delete(seen.values().next().value!)
    const j = JSON.stringify(item)
    return q.push({ k, t, j, b: size(j), c })
  }

  // Drops what no longer fits, oldest first (too old, too many, too many bytes), then writes the queue;
  // when storage refuses it (quota), the oldest items are left out of the stored copy, kept in memory.
  const save = () => {
    const { maxQueueItems: items, maxQueueBytes: bytes, maxAgeMs: age } = o
    let n = 0
    for (const e of q) n += e.b
    while (q[0] && (q.length > items || n > bytes || q[0].t < Date.now() - age)) {
      const e = q.shift()!
      n -= e.b
      fail(e, `dropped from the queue (limits: ${items} items, ${bytes} bytes, ${age} ms)`, 507)
    }
    lost = q.length
    for (let i = 0; storage && i <= q.length; i++)
      try {
        if (i < q.length)
          storage.setItem(
            me,
            `{"t":${Date.now()},"r":${released},"q":[${q.slice(i).map((e) => `[${e.t},${e.j}]`)}]}`,
          )
        else storage.removeItem(me)
        return (lost = i)
      } catch {
        log('storage full', i)
      }
  }

  // Takes over the keys of released or stale instances (see the top of this file).
  const adopt = () => {
    try {
      const keys: string[] = []
      for (let i = 0; i < storage!.length; i++) keys.push(storage!.key(i) || '')
      for (const k of keys) {
        if (!k.startsWith(prefix) || k == me) continue
        const v = read<{ t: number; r: number; q: [number, Item][] }>(storage, k)
        if (v && !v.r && Date.now() - v.t < STALE) continue
        for (const [t, item] of (v && v.q) || []) if (item && item.messageId) push(t, item)
        log('adopted a queue', k)
        q.sort((a, b) => a.t - b.t)
        save()
        storage!.removeItem(k)
      }
    } catch {
      // storage unreadable: this instance goes on with its own queue
    }
  }

  // Schedules a send in `ms`, unless one is due sooner.
  const arm = (ms: number) => {
    if (q[0] && !(timer && due <= Date.now() + ms)) {
      clearTimeout(timer)
      due = Date.now() + ms
      timer = setTimeout(send, ms)
    }
  }

  // Takes the next batch out of `list`: up to batchSize items and BODY bytes (one bigger item goes alone).
  const take = (list: Entry[]) => {
    let i = 0
    let n = 0
    while (list[i] && i < batchSize && ((n += list[i]!.b + 1) <= BODY || !i)) i++
    return list.splice(0, i)
  }

  // Sends a batch: with keepalive while the page's 64 KiB budget lasts, else without it; or, when the page
  // is being hidden, with sendBeacon, whose outcome the page never learns (the items stay queued). False
  // when nothing could take it.
  const post = (batch: Entry[], hiding?: number) => {
    const body = `{"writeKey":${JSON.stringify(o.writeKey)},"sentAt":"${new Date().toISOString()}","items":[${batch.map((e) => e.j)}]}`
    const n = size(body)
    const keepalive = n > KEEPALIVE - inflight ? 0 : n
    if (!hiding || keepalive)
      return deliver(batch, body, keepalive, hiding ? 'text/plain' : 'application/json')
    const beaconed = !!navigator.sendBeacon && navigator.sendBeacon(o.base + 'batch', body)
    if (beaconed) for (const e of batch) e.f = 2
    return beaconed
  }

  // On a network error, 408, 429 or 5xx the items stay queued until the backoff is over. Any other answer
  // is final: accepted and duplicate items leave the queue; rejected ones, or all of them when the whole
  // batch was refused, are reported and leave it too.
  const deliver = async (batch: Entry[], body: string, keepalive: number, type: string) => {
    for (const e of batch) e.f = 1
    inflight += keepalive
    const res = await request(o, 'batch', {
      method: 'POST',
      keepalive: keepalive > 0,
      headers: { 'Content-Type': type },
      body,
    })
    inflight -= keepalive
    for (const e of batch) e.f = 0
    const wait = backoff(res, attempt)
    if (wait === undefined) {
      const { ok, status } = res!
      const describe = (error?: { code: string; message: string }) =>
        error ? `${error.code}: ${error.message}` : ''
      const rejected: Record<string, string> = {}
      let refusal = `HTTP ${status}`
      try {
        const answer = await res!.json()
        if (!ok) refusal += ' ' + describe(answer.error)
        for (const r of ok ? answer.results : [])
          if (r.status == 'rejected') rejected[r.messageId + ' ' + r.mapping] = describe(r.error)
      } catch {
        // 2xx means stored; an unreadable answer only loses the details
      }
      attempt = 0
      q = q.filter((e) => !batch.includes(e))
      log(`batch of ${batch.length} answered`, status)
      for (const e of batch) {
        if (!ok) fail(e, `the proxy refused the batch (${refusal})`, status)
        else if (e.k in rejected) fail(e, `the proxy rejected it (${rejected[e.k]})`, 400)
      }
      save()
    } else {
      attempt++
      until = Date.now() + wait
      log(`batch of ${batch.length} to be retried in ${Math.round(wait)} ms`, res && res.status)
    }
    arm(until - Date.now())
  }

  const send = async () => {
    timer = undefined
    if (busy || released) return
    adopt()
    save() // before each send; also the heartbeat
    const wait = until - Date.now()
    if (!navigator.onLine || wait > 0) {
      log(wait > 0 ? 'waiting to retry' : 'offline', q.length)
      return arm(wait > 0 && wait < MAX_WAIT ? wait : MAX_WAIT)
    }
    const batch = take(q.filter((e) => e.f != 1))
    if (batch[0]) {
      busy = 1
      await post(batch)
      busy = 0
    }
  }

  // Page hidden or going away: send what is not in flight now, keepalive first, then sendBeacon (both as
  // text/plain, which needs no CORS preflight). Whatever was sent stays queued until the proxy answers.
  const hide = (release?: number) => {
    if (release) released = 1
    save()
    const list = q.filter((e) => !e.f)
    while (navigator.onLine && list[0] && post(take(list), 1));
    log('page hidden', release)
  }

  const onVisibility = () => (document.visibilityState == 'hidden' ? hide() : arm(0))
  const onHide = () => hide(1)
  // Back from the back/forward cache: if another tab adopted the released queue meanwhile, the items are
  // theirs (all but those that were never in storage).
  const onShow = () => {
    if (released) {
      released = 0
      if (!read(storage, me)) q = q.slice(0, lost)
      save()
      arm(0)
    }
  }
  const onOnline = () => {
    until = attempt = 0
    arm(0)
  }
  const listen = (m: 'addEventListener' | 'removeEventListener') => {
    window[m]('pagehide', onHide)
    window[m]('pageshow', onShow)
    window[m]('online', onOnline)
    document[m]('visibilitychange', onVisibility)
  }

  return {
    add(item, ctx) {
      if (push(Date.now(), item, ctx)) {
        save()
        arm(q.length < batchSize ? o.flushIntervalMs : 0)
      }
    },
    start() {
      listen('addEventListener')
      void send()
    },
    stop() {
      listen('removeEventListener')
      clearTimeout(timer)
      released = 1
      save()
    },
  }
}
