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
import { RelayError, type BatchItem, type FieldIssue as Issue } from '@qualtrics-relay/core'
import type { Context } from '@segment/analytics-next'
import type { Resolved } from './options'
import { MAX_WAIT, now, read, request } from './util'

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
  /** The keys of the latest items queued here, to recognise duplicates. */
  const seen = new Set<string>()
  let q: Entry[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  let released = 0
  let attempt = 0
  let until = 0
  /** Bytes of this instance's keepalive requests in flight. */
  let inflight = 0
  /** How many of the oldest items the stored copy leaves out (storage full or absent). */
  let lost = 0

  /** Bytes of `s` in UTF-8. */
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
    if (seen.has(k)) return log('duplicate', k)
    // Insertion order: the first key is the oldest (a Set: an array search would cost µs per event).
    if (seen.add(k).size > 2000) seen.delete(seen.values().next().value!)
    const j = JSON.stringify(item)
    return q.push({ k, t, j, b: size(j), c })
  }

  // Drops what no longer fits, oldest first (too old, too many, too many bytes), then writes the queue;
  // when storage refuses it (quota), the oldest items are left out of the stored copy, kept in memory.
  const save = () => {
    const { maxQueueItems: items, maxQueueBytes: bytes, maxAgeMs: age } = o
    let n = 0
    for (const e of q) n += e.b
    while (q[0] && (q.length > items || n > bytes || q[0].t < now() - age)) {
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
            `{"t":${now()},"r":${released},"q":[${q.slice(i).map((e) => `[${e.t},${e.j}]`)}]}`,
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
        if (v && !v.r && now() - v.t < STALE) continue
        for (const [t, item] of (v && v.q) || []) if (item && item.messageId) push(t, item)
        log('adopted', k)
        q.sort((a, b) => a.t - b.t)
        save()
        storage!.removeItem(k)
      }
    } catch {
      // storage unreadable: this instance goes on with its own queue
    }
  }

  // Schedules the next send in `ms` (in place of any scheduled before).
  const arm = (ms: number) => {
    clearTimeout(timer)
    timer = q[0] && setTimeout(send, ms)
  }

  // Takes the next batch out of `list`: up to batchSize items and BODY bytes (one bigger item goes alone).
  const take = (list: Entry[]) => {
    let i = 0
    let n = 0
    while (list[i] && i < batchSize && ((n += list[i]!.b + 1) <= BODY || !i)) i++
    return list.splice(0, i)
  }

  // While the page lives: the next batch, unless one is in flight or a retry is not due yet; with keepalive
  // while the page's 64 KiB budget lasts. When the page is being hidden: everything not in flight at once,
  // as text/plain (no CORS preflight), with keepalive while the budget lasts, then with sendBeacon, whose
  // outcome the page never learns. Whatever was sent stays queued until the proxy has answered for it.
  const send = (hiding?: number) => {
    if (!hiding) {
      clearTimeout(timer)
      timer = undefined
      if (released || q.some((e) => e.f == 1)) return
      adopt()
    }
    save() // before each send; also the heartbeat
    const wait = until - now()
    if (!navigator.onLine || (wait > 0 && !hiding)) {
      log(navigator.onLine ? 'waiting to retry' : 'offline', q.length)
      return arm(wait > 0 && wait < MAX_WAIT ? wait : MAX_WAIT)
    }
    const list = q.filter((e) => (hiding ? !e.f : e.f != 1))
    while (list[0]) {
      const batch = take(list)
      const body = `{"writeKey":${JSON.stringify(o.writeKey)},"sentAt":"${new Date().toISOString()}","items":[${batch.map((e) => e.j)}]}`
      const n = size(body)
      const keepalive = n > KEEPALIVE - inflight ? 0 : n
      if (!hiding || keepalive) {
        void deliver(batch, body, keepalive, hiding ? 'text/plain' : 'application/json')
        if (!hiding) return
      } else if (navigator.sendBeacon && navigator.sendBeacon(o.base + 'batch', body))
        for (const e of batch) e.f = 2
      else break
    }
    if (hiding) log('page hidden', released)
  }

  // On a network error, 408, 429 or 5xx the items stay queued until the backoff is over. Any other answer
  // is final: accepted and duplicate items leave the queue; rejected ones, or all of them when the whole
  // batch was refused, are reported and leave it too.
  const deliver = async (batch: Entry[], body: string, keepalive: number, type: string) => {
    for (const e of batch) e.f = 1
    inflight += keepalive
    const [status, answer, wait] = await request(
      o,
      'batch',
      { method: 'POST', keepalive: keepalive > 0, headers: { 'Content-Type': type }, body },
      attempt,
    )
    inflight -= keepalive
    for (const e of batch) e.f = 0
    if (wait === undefined) {
      const describe = (error?: { code: string; message: string }) =>
        error ? `${error.code}: ${error.message}` : ''
      attempt = 0
      q = q.filter((e) => !batch.includes(e))
      log(`batch of ${batch.length} answered`, status)
      try {
        batch.forEach((e, i) => {
          if (status < 300) {
            for (const r of answer.results)
              if (r.status == 'rejected' && r.messageId + ' ' + r.mapping == e.k)
                fail(e, `the proxy rejected it (${describe(r.error)})`, 400)
            return
          }
          // A refused batch lists each item's problems as issues under `items.<index>.`.
          const at = `items.${i}.`
          const own = (answer.error.issues || []).filter((x: Issue) => x.path.startsWith(at))
          const details = own.map((x: Issue) => `; ${x.path.slice(at.length)}: ${x.message}`).join('')
          fail(e, `the proxy refused the batch (HTTP ${status} ${describe(answer.error)}${details})`, status)
        })
      } catch {
        // 2xx means stored; an unreadable answer only loses the details
      }
      save()
    } else {
      attempt++
      until = now() + wait
      log(`batch of ${batch.length} to be retried in ${Math.round(wait)} ms`, status)
    }
    arm(Math.min(until - now(), MAX_WAIT)) // at most MAX_WAIT: each send rewrites the key
  }

  const onVisibility = () => send(+(document.visibilityState == 'hidden'))
  const onHide = () => send((released = 1))
  // Back from the back/forward cache: if another tab adopted the released queue meanwhile, the items are
  // theirs (all but those that were never in storage).
  const onShow = () => {
    if (released) {
      released = 0
      if (!read(storage, me)) q = q.slice(0, lost)
      send()
    }
  }
  const onOnline = () => {
    until = attempt = 0
    send()
  }
  const listen = (m: 'addEventListener' | 'removeEventListener') => {
    window[m]('pagehide', onHide)
    window[m]('pageshow', onShow)
    window[m]('online', onOnline)
    document[m]('visibilitychange', onVisibility)
  }

  return {
    add(item, ctx) {
      // A full batch goes at once; otherwise it may wait flushIntervalMs for others (or less, when a send
      // is already scheduled).
      if (push(now(), item, ctx)) {
        if (q.length >= batchSize) send()
        else {
          save()
          if (!timer) arm(o.flushIntervalMs)
        }
      }
    },
    start() {
      listen('addEventListener')
      send()
    },
    stop() {
      listen('removeEventListener')
      clearTimeout(timer)
      released = 1
      save()
    },
  }
}
