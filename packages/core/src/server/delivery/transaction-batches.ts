// Transaction batching: transactions wait in one buffer per directory until it holds
// `transactionBatchSize` or `transactionLingerMs` has passed (at once while stopping; during flush()
// when every claimed item is resolved), then go out in one createContactTransactions call each. A batch
// Qualtrics refuses as a whole is split in halves to isolate the cause; each item is settled from its
// own entry in the answer.

import type { TransactionPayload } from '../../actions/payloads'
import { RelayError } from '../../errors'
import type { ContactTransaction, QualtricsApi } from '../qualtrics/types'
import { isAlreadyWritten } from './already-written'
import type { Clock } from './clock'
import type { CallQualtrics, ContactResolver, ResolvedContact } from './contacts'
import type { DeliveryLogger, ResolvedOptions } from './options'
import type { TransactionItem } from './resend-check'
import type { Settler } from './settle'

interface BatchEntry {
  item: TransactionItem
  key: string
  transaction: ContactTransaction
  contact: ResolvedContact
  finish: () => void
}

export interface TransactionBatcherOptions {
  client: Pick<QualtricsApi, 'createContactTransactions'>
  opts: Pick<ResolvedOptions, 'transactionBatchSize' | 'transactionLingerMs'>
  clock: Clock
  logger: DeliveryLogger
  call: CallQualtrics
  settler: Settler
  contacts: Pick<ContactResolver, 'forget'>
  /** The engine's stop signal as it is now: ends the linger waits. */
  signal: () => AbortSignal
  /** stop() is draining: send at once rather than wait for a batch to fill or linger. */
  isStopping: () => boolean
  /** A flush() is running: it sends the buffers itself once every claimed item is resolved. */
  isFlushing: () => boolean
}

export interface TransactionBatcher {
  /** Buffers the item's transaction; resolves once the item is settled from its batch's answer. */
  add(item: TransactionItem, contact: ResolvedContact): Promise<void>
  /** Sends every buffer now. */
  sendAll(): void
}

/** A refusal of the whole batch that one bad transaction may have caused: worth splitting. */
function isSplittable(error: unknown): boolean {
  return (
    error instanceof RelayError &&
    !error.retryable &&
    (error.status === 400 || error.status === 413 || error.status === 422)
  )
}

export function createTransactionBatcher(options: TransactionBatcherOptions): TransactionBatcher {
  const { client, opts, clock, logger, call, contacts, signal, isStopping, isFlushing } = options
  const { delivered, failed } = options.settler
  const buffers = new Map<string, BatchEntry[]>()
  const lingerTokens = new Map<string, object>()

  function add(item: TransactionItem, contact: ResolvedContact): Promise<void> {
    const p: TransactionPayload = item.payload
    return new Promise((finish) => {
      const entry: BatchEntry = {
        item,
        key: item.id,
        contact,
        finish,
        transaction: {
          contactId: contact.contactId,
          mailingListId: p.mailingListId,
          transactionDate: p.transactionDate,
          data: p.transactionData,
        },
      }
      const directoryId = p.directoryId
      let buffer = buffers.get(directoryId)
      if (buffer === undefined) buffers.set(directoryId, (buffer = []))
      buffer.push(entry)
      // (stopping: sent at once, so the drain never waits for a batch to fill or linger)
      if (buffer.length >= opts.transactionBatchSize || isStopping()) {
        sendBuffer(directoryId)
      } else if (!isFlushing() && !lingerTokens.has(directoryId)) {
        // (during flush() the batch is sent as soon as every claimed item is resolved, not on a timer)
        const token = {}
        lingerTokens.set(directoryId, token)
        void clock.sleep(opts.transactionLingerMs, signal()).then(() => {
          if (lingerTokens.get(directoryId) === token) sendBuffer(directoryId)
        })
      }
    })
  }

  function sendBuffer(directoryId: string): void {
    lingerTokens.delete(directoryId)
    const buffer = buffers.get(directoryId)
    buffers.delete(directoryId)
    if (buffer === undefined) return
    for (let i = 0; i < buffer.length; i += opts.transactionBatchSize) {
      void sendBatch(directoryId, buffer.slice(i, i + opts.transactionBatchSize))
    }
  }

  function sendAll(): void {
    for (const directoryId of [...buffers.keys()]) sendBuffer(directoryId)
  }

  async function sendBatch(directoryId: string, entries: BatchEntry[]): Promise<void> {
    const body: Record<string, ContactTransaction> = {}
    for (const e of entries) body[e.key] = e.transaction
    let outcome: Awaited<ReturnType<typeof client.createContactTransactions>>
    try {
      outcome = await call('createContactTransactions', entries.length, () =>
        client.createContactTransactions(directoryId, body),
      )
    } catch (error) {
      if (entries.length > 1 && isSplittable(error)) {
        logger.info(
          { directoryId, size: entries.length },
          'Qualtrics refused a transaction batch; splitting it to isolate the cause',
        )
        const middle = Math.ceil(entries.length / 2)
        await Promise.all([
          sendBatch(directoryId, entries.slice(0, middle)),
          sendBatch(directoryId, entries.slice(middle)),
        ])
        return
      }
      await Promise.all(entries.map((e) => failed(e.item, error, true).finally(e.finish)))
      return
    }
    await Promise.all(
      entries.map(async (e) => {
        try {
          const transactionId = outcome.created[e.key]
          if (transactionId !== undefined) {
            await delivered(e.item, { contactId: e.contact.contactId, transactionId, transactionKey: e.key })
            return
          }
          const reason = outcome.unprocessed[e.key]
          if (reason !== undefined && isAlreadyWritten(reason)) {
            // Qualtrics deduplicates keys and has this one: an earlier attempt wrote it.
            await delivered(e.item, { contactId: e.contact.contactId, transactionKey: e.key })
            return
          }
          // The cached contact id may be stale (contact deleted or merged): look it up afresh next time.
          if (e.contact.via !== 'given')
            await contacts.forget(e.item.payload, e.item.lookupBy, e.contact.contactId)
          await failed(
            e.item,
            new RelayError(
              'DELIVERY_FAILED',
              reason === undefined
                ? `Qualtrics reported transaction ${e.key} in directory ${directoryId} neither created nor unprocessed`
                : `Qualtrics did not process transaction ${e.key} in directory ${directoryId}: ${reason.errorMessage}${reason.errorCode === undefined ? '' : ` (errorCode ${reason.errorCode})`}`,
              { retryable: true },
            ),
          )
        } finally {
          e.finish()
        }
      }),
    )
  }

  return { add, sendAll }
}
