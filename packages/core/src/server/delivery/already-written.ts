// Was this transaction written already? Two questions the engine asks, answered in one place:
//
// 1. An unprocessed-transaction reason (a 200 answer's `unprocessedTransactions`) that means "this key
//    was written before". Qualtrics documents no reasons or codes for this call (spec §2.7, §5.1, §5.9),
//    so this is a reading, kept narrow: a reason counts only when it speaks of the transaction or its key
//    being a duplicate or already used. A reason about anything else ("duplicate contact", "contact
//    already unsubscribed") must never mark an item delivered, as that would lose it.
//      - errorCode `DUPLICATE_TRANSACTION_KEY` (the sandbox's, with `duplicateTransactionKey: 'reject'`);
//      - or a message/code naming a duplicate transaction or key, or a transaction or key that already
//        exists / was already used, created or recorded.
//
// 2. After a write that failed ambiguously (timeout, 5xx), whether one of the contact's listed
//    transactions is the one sent: same mailing list (when listed), same key (when listed), the same
//    instant (not the same text: `2026-01-02 03:04:05` and `2026-01-02T03:04:05Z` are one moment) and
//    the same data (values compared as text, as Qualtrics may echo them as strings).

import type { ContactTransaction, ListedContactTransaction } from '../qualtrics/types'

export interface UnprocessedReason {
  errorCode?: string
  errorMessage: string
}

const ALREADY_WRITTEN_CODES = new Set(['DUPLICATE_TRANSACTION_KEY'])
const ALREADY_WRITTEN_TEXT = [
  /\bduplicate[ _-]?(transaction|key)\b/i,
  /\b(transaction|key)\b.*\b(is a duplicate|already (exists|used|created|recorded|been (used|created|recorded)))\b/i,
]

/** True when an unprocessed reason says the transaction's key was written before (see above). */
export function isAlreadyWritten(reason: UnprocessedReason): boolean {
  if (reason.errorCode !== undefined && ALREADY_WRITTEN_CODES.has(reason.errorCode.toUpperCase())) return true
  const text = `${reason.errorCode ?? ''} ${reason.errorMessage}`
  return ALREADY_WRITTEN_TEXT.some((pattern) => pattern.test(text))
}

/**
 * The instant of a transaction date: `YYYY-MM-DD HH:MM:SS` (Qualtrics' form, UTC), the same with `T`,
 * fractions or a zone, or epoch ms as text. Undefined when it cannot be read.
 */
export function transactionInstant(text: string): number | undefined {
  const value = text.trim()
  if (/^\d{10,}$/.test(value)) return Number(value)
  const match = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:?\d{2})?$/i.exec(value)
  if (match === null) return undefined
  const zone = match[3] === undefined ? 'Z' : match[3].toUpperCase()
  const ms = Date.parse(`${match[1]}T${match[2]}${zone}`)
  return Number.isNaN(ms) ? undefined : ms
}

function sameData(sent: Record<string, unknown>, listed: Record<string, unknown> | undefined): boolean {
  if (listed === undefined) return Object.keys(sent).length === 0
  const keys = Object.keys(sent)
  if (keys.length !== Object.keys(listed).length) return false
  return keys.every((k) => k in listed && String(listed[k]) === String(sent[k]))
}

/** Whether a listed transaction is the one sent under `key` (see above). */
export function isSameTransaction(
  listed: ListedContactTransaction,
  sent: { key: string; transaction: Omit<ContactTransaction, 'contactId'> },
): boolean {
  const { transaction } = sent
  if (listed.key !== undefined && listed.key !== sent.key) return false
  if (listed.mailingListId !== undefined && listed.mailingListId !== transaction.mailingListId) return false
  if (listed.transactionDate === undefined) return false
  const at = transactionInstant(listed.transactionDate)
  if (at === undefined || at !== transactionInstant(transaction.transactionDate)) return false
  return sameData(transaction.data, listed.data)
}
