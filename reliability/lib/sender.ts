// A load generator that behaves like the browser plugin: it sends batches of mapped items, remembers the
// proxy's answer for each item, and sends again every item whose request failed (network error, no
// answer, 5xx) with the same messageId until the proxy has answered for it.
import {
  itemOf,
  postBatch,
  resultsOf,
  type BatchItem,
  type ItemOutcome,
  type Kind,
  type Target,
} from './relay'
import type { Rng } from './rng'
import { sleep } from './stats'

export interface TrackedItem {
  kind: Kind
  item: BatchItem
  /** The proxy's answer once one came: `accepted` or `duplicate` (a refusal fails the run). */
  status?: 'accepted' | 'duplicate'
  /** The proxy refused it (final, as for the plugin). */
  refused?: boolean
  sends: number
}

export interface SenderOptions {
  /** The proxy's URL (read before each request, so it may change between restarts). */
  url: () => string
  target: Target
  rng: Rng
  /** Concurrent senders. */
  workers: number
  /** Items per batch, from–to. */
  batchSize: [number, number]
  /** Pause of each worker between two requests. */
  pauseMs: number
  /** Share of each kind among new items. */
  mix: Record<Kind, number>
  /** Transactions are spread over this many users (contacts always get their own extRef). */
  users: number
  /** Prefix of messageIds and extRefs, so several runs against one sandbox never collide. */
  prefix: string
  requestTimeoutMs?: number
  /** At most this many new items per second, all workers together (re-sends are not counted). */
  itemsPerSecond?: number
}

export interface SenderStats {
  requests: number
  failedRequests: number
  resentItems: number
  accepted: number
  duplicate: number
  rejected: ItemOutcome[]
}

export interface Sender {
  readonly items: TrackedItem[]
  readonly stats: SenderStats
  /** Makes `count` new items of `kind` at once, past the pace: they go out with the next batches. */
  surge(count: number, kind: Kind): void
  /** Stops making new items; workers go on re-sending the ones not answered yet. */
  stopGenerating(): void
  /** Resolves when every item has an answer (after stopGenerating), or rejects after `timeoutMs`. */
  settle(timeoutMs: number): Promise<void>
  /** Stops the workers at once. */
  stop(): Promise<void>
}

export function startSender(options: SenderOptions): Sender {
  const { rng, target } = options
  const items: TrackedItem[] = []
  const retry: TrackedItem[] = []
  const stats: SenderStats = {
    requests: 0,
    failedRequests: 0,
    resentItems: 0,
    accepted: 0,
    duplicate: 0,
    rejected: [],
  }
  let generating = true
  let running = true
  let counter = 0
  /** Items made by surge(), which the pace does not count. */
  let surged = 0
  const total = options.mix.contact + options.mix.purchase + options.mix.workflow

  function newItem(forced?: Kind): TrackedItem {
    const n = ++counter
    const messageId = `${options.prefix}-${n}`
    const roll = rng.next() * total
    const kind: Kind =
      forced ??
      (roll < options.mix.contact
        ? 'contact'
        : roll < options.mix.contact + options.mix.purchase
          ? 'purchase'
          : 'workflow')
    const extRef =
      kind === 'contact' ? `${options.prefix}-c${n}` : `${options.prefix}-u${rng.int(1, options.users)}`
    const tracked: TrackedItem = { kind, item: itemOf(kind, target, messageId, extRef), sends: 0 }
    items.push(tracked)
    return tracked
  }

  const startedAt = Date.now()
  /** New items the pace allows now. */
  const allowed = (): number =>
    options.itemsPerSecond === undefined
      ? Number.POSITIVE_INFINITY
      : ((Date.now() - startedAt) / 1000) * options.itemsPerSecond - (counter - surged)

  function nextBatch(): TrackedItem[] {
    const size = rng.int(options.batchSize[0], options.batchSize[1])
    const batch = retry.splice(0, size)
    while (generating && batch.length < size && allowed() >= 1) batch.push(newItem())
    return batch
  }

  async function worker(): Promise<void> {
    while (running) {
      const batch = nextBatch()
      if (batch.length === 0) {
        if (
          !generating &&
          retry.length === 0 &&
          items.every((t) => t.status !== undefined || t.refused === true)
        )
          return
        await sleep(20)
        continue
      }
      for (const t of batch) {
        if (t.sends > 0) stats.resentItems++
        t.sends++
      }
      stats.requests++
      let ok = false
      try {
        const answer = await postBatch(
          options.url(),
          batch.map((t) => t.item),
          { timeoutMs: options.requestTimeoutMs ?? 5_000 },
        )
        if (answer.status === 202) {
          ok = true
          const results = resultsOf(answer)
          batch.forEach((t, i) => {
            const result = results[i]
            if (result?.status === 'accepted' || result?.status === 'duplicate') {
              t.status ??= result.status
              if (result.status === 'accepted') stats.accepted++
              else stats.duplicate++
            } else {
              t.refused = true
              stats.rejected.push(
                result ?? { messageId: t.item.messageId, mapping: t.item.mapping, status: 'rejected' },
              )
            }
          })
        } else if (answer.status < 500 && answer.status !== 429) {
          // A refusal of the whole batch: final, as for the plugin. The run fails on it.
          ok = true
          for (const t of batch) {
            t.refused = true
            stats.rejected.push({
              messageId: t.item.messageId,
              mapping: t.item.mapping,
              status: 'rejected',
              error: { code: String(answer.status), message: answer.text.slice(0, 200) },
            })
          }
        }
      } catch {
        // network error or timeout: re-sent below
      }
      if (!ok) {
        stats.failedRequests++
        retry.push(...batch)
        await sleep(30 + rng.int(0, 40))
      } else if (options.pauseMs > 0) await sleep(options.pauseMs)
    }
  }

  const workers = Array.from({ length: options.workers }, () => worker())
  const all = Promise.all(workers)

  return {
    items,
    stats,
    surge: (count, kind) => {
      for (let i = 0; i < count; i++) retry.push(newItem(kind))
      surged += count
    },
    stopGenerating: () => {
      generating = false
    },
    settle: async (timeoutMs) => {
      generating = false
      let timer: ReturnType<typeof setTimeout> | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`items still unanswered after ${timeoutMs} ms`)), timeoutMs)
      })
      try {
        await Promise.race([all, timeout])
      } finally {
        clearTimeout(timer)
      }
    },
    stop: async () => {
      running = false
      await all
    },
  }
}
