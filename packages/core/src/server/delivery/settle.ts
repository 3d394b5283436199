// Settling an attempt in the store: delivered, a retry (backoff with jitter, the rate-limit pause, or
// held back by the circuit at no attempt's cost), or a dead letter (not retryable, out of attempts, or
// past maxAgeMs). Each settlement counts only while this engine still holds the item's lease.

import { describeValue, RelayError } from '../../errors'
import type { DeliveryStore, ItemError, ItemResult, StoredItem } from '../store/types'
import type { Clock } from './clock'
import type { Emitter, ItemRef } from './events'
import type { DeliveryLogger, ResolvedOptions } from './options'
import { isRateLimited, retryAfterOf } from './qualtrics-gate'
import { LimiterAbortedError, type RateBudget } from './rate-limiter'

export interface SettlerOptions {
  store: DeliveryStore
  /** The lease owner the engine claims as. */
  owner: string
  clock: Clock
  logger: DeliveryLogger
  emitter: Emitter
  opts: Pick<ResolvedOptions, 'maxAttempts' | 'maxAgeMs' | 'retryBaseMs' | 'retryMaxMs'>
  random: () => number
  limiter: Pick<RateBudget, 'pausedUntil'>
  /** When the circuit has this failure's item due again (no attempt counted); undefined otherwise. */
  heldUntilOf: (error: unknown) => number | undefined
  onStoreError: (where: string, error: unknown) => void
  /** A retry of this engine's comes due at this time. */
  dueAt: (at: number) => void
}

export interface Settler {
  delivered(item: StoredItem, result: ItemResult): Promise<void>
  /**
   * Settles a failed attempt: retry (backoff, or the rate-limit pause), or dead letter. `write` says
   * the failure came from a write request, which a timeout or 5xx may have applied unseen.
   */
  failed(item: StoredItem, error: unknown, write?: boolean): Promise<void>
}

/** A write that failed this way may still have been applied by Qualtrics. */
function mayHaveApplied(error: unknown): boolean {
  if (!(error instanceof RelayError)) return true
  if (error.code === 'TIMEOUT' || error.code === 'NETWORK_ERROR' || error.code === 'QUALTRICS_BAD_RESPONSE')
    return true
  return error.code === 'QUALTRICS_API_ERROR' && (error.status ?? 0) >= 500
}

function isRetryable(error: unknown): boolean {
  // Unknown failures are retried: losing an event is worse, and maxAttempts bounds the cost.
  return error instanceof RelayError ? error.retryable : true
}

function toItemError(error: unknown, at: number): ItemError {
  if (error instanceof RelayError) {
    return {
      code: error.code,
      message: error.message,
      ...(error.status === undefined ? {} : { status: error.status }),
      at,
    }
  }
  return {
    code: 'DELIVERY_FAILED',
    message: error instanceof Error ? error.message : describeValue(error, 200),
    at,
  }
}

function refOf(item: StoredItem): ItemRef {
  return {
    id: item.id,
    messageId: item.messageId,
    mappingId: item.mappingId,
    action: item.action,
    ...(item.source === undefined ? {} : { source: item.source }),
  }
}

export function createSettler(options: SettlerOptions): Settler {
  const { store, owner, clock, logger, emitter, opts, random, limiter, heldUntilOf, dueAt } = options
  const storeFailed = options.onStoreError

  async function delivered(item: StoredItem, result: ItemResult): Promise<void> {
    const now = clock.now()
    let ok: boolean
    try {
      ok = await store.markDelivered(item.id, owner, now, result)
    } catch (error) {
      storeFailed('markDelivered', error)
      return
    }
    if (!ok) {
      logger.info(
        { id: item.id, messageId: item.messageId },
        'delivered an item whose lease was lost; it may be delivered again (idempotently)',
      )
      return
    }
    emitter.emit('delivered', {
      item: refOf(item),
      attempts: item.attempts + 1,
      ageMs: now - item.createdAt,
      result,
    })
    logger.debug({ id: item.id, messageId: item.messageId, action: item.action, ...result }, 'delivered')
  }

  async function deadLetter(item: StoredItem, attempts: number, error: ItemError): Promise<void> {
    let ok: boolean
    try {
      ok = await store.markDead(item.id, owner, { now: clock.now(), attempts, error })
    } catch (storeError) {
      storeFailed('markDead', storeError)
      return
    }
    if (!ok) return
    emitter.emit('deadLettered', { item: refOf(item), attempts, error })
    logger.warn(
      {
        id: item.id,
        messageId: item.messageId,
        mappingId: item.mappingId,
        action: item.action,
        code: error.code,
        status: error.status,
        error: error.message,
      },
      'item dead-lettered',
    )
  }

  function backoff(attempts: number): number {
    const step = Math.min(opts.retryMaxMs, opts.retryBaseMs * 2 ** Math.max(0, attempts - 1))
    return Math.round(step / 2 + (random() * step) / 2)
  }

  /**
   * Settles a failed attempt: retry (backoff, or the rate-limit pause), or dead letter. `write` says
   * the failure came from a write request, which a timeout or 5xx may have applied unseen.
   */
  async function failed(item: StoredItem, error: unknown, write = false): Promise<void> {
    if (error instanceof LimiterAbortedError) return // stopping: the item is released, not failed
    const now = clock.now()
    const itemError = toItemError(error, now)
    if (item.lastError?.possiblyWritten === true || (write && mayHaveApplied(error)))
      itemError.possiblyWritten = true
    const rateLimited = isRateLimited(error)
    const heldUntil = heldUntilOf(error)
    const attempts = item.attempts + (rateLimited || heldUntil !== undefined ? 0 : 1)
    if (!isRetryable(error)) return deadLetter(item, attempts, itemError)
    if (attempts >= opts.maxAttempts) {
      return deadLetter(item, attempts, {
        ...itemError,
        code: 'DELIVERY_FAILED',
        message: `Gave up after ${attempts} attempts (maxAttempts ${opts.maxAttempts}); last error ${itemError.code}: ${itemError.message}`,
      })
    }
    const delayMs = rateLimited
      ? Math.max(retryAfterOf(error) ?? 0, limiter.pausedUntil() - now, 1)
      : heldUntil !== undefined
        ? Math.max(1, heldUntil - now)
        : backoff(attempts)
    const nextAttemptAt = now + delayMs
    if (nextAttemptAt - item.createdAt > opts.maxAgeMs) {
      return deadLetter(item, attempts, {
        ...itemError,
        code: 'DELIVERY_FAILED',
        message: `Gave up: the next attempt would be past maxAgeMs (${opts.maxAgeMs} ms since it was accepted); last error ${itemError.code}: ${itemError.message}`,
      })
    }
    let ok: boolean
    try {
      ok = await store.scheduleRetry(item.id, owner, { now, nextAttemptAt, attempts, error: itemError })
    } catch (storeError) {
      storeFailed('scheduleRetry', storeError)
      return
    }
    if (!ok) return
    dueAt(nextAttemptAt)
    emitter.emit('retried', { item: refOf(item), attempts, delayMs, nextAttemptAt, error: itemError })
    // Held back by the circuit: its open and close lines say it once for every item.
    logger[heldUntil === undefined ? 'info' : 'debug'](
      {
        id: item.id,
        messageId: item.messageId,
        action: item.action,
        attempts,
        delayMs,
        code: itemError.code,
        status: itemError.status,
      },
      heldUntil === undefined ? 'delivery failed; will retry' : 'held back while Qualtrics is down',
    )
  }

  return { delivered, failed }
}
