import { describe, expect, it } from 'vitest'
import { isAlreadyWritten, isSameTransaction, transactionInstant } from '@qualtrics-relay/core/server'

describe('isAlreadyWritten: the unprocessed reasons that mean "this key was written before"', () => {
  it.each([
    [
      { errorCode: 'DUPLICATE_TRANSACTION_KEY', errorMessage: 'key "k" was already used in this directory' },
      true,
    ],
    [{ errorCode: 'duplicate_transaction_key', errorMessage: '' }, true],
    [{ errorMessage: 'Duplicate transaction' }, true],
    [{ errorMessage: 'duplicate key k' }, true],
    [{ errorMessage: 'Transaction key already exists' }, true],
    [{ errorMessage: 'a transaction with this key has already been created' }, true],
    [{ errorMessage: 'transaction is a duplicate' }, true],
    // about something else: must stay a failure, or the item would be lost
    [{ errorMessage: 'duplicate contact in directory' }, false],
    [{ errorMessage: 'contact already unsubscribed' }, false],
    [{ errorCode: 'CONTACT_NOT_FOUND', errorMessage: 'contact not found' }, false],
    [
      { errorCode: 'TRANSACTION_NOT_PROCESSED', errorMessage: 'The transaction could not be processed' },
      false,
    ],
    [{ errorMessage: 'already' }, false],
  ])('%j → %s', (reason, expected) => {
    expect(isAlreadyWritten(reason)).toBe(expected)
  })
})

describe('transactionInstant', () => {
  const at = Date.UTC(2026, 0, 2, 3, 4, 5)
  it.each([
    ['2026-01-02 03:04:05', at],
    ['2026-01-02T03:04:05Z', at],
    ['2026-01-02T03:04:05.000Z', at],
    ['2026-01-02T04:04:05+01:00', at],
    ['2026-01-02 03:04:05.000', at],
    [String(at), at],
    ['02/01/2026 03:04:05', undefined],
    ['2026-01-02', undefined],
    ['', undefined],
  ])('%s', (text, expected) => {
    expect(transactionInstant(text)).toBe(expected)
  })
})

describe('isSameTransaction', () => {
  const sent = {
    key: 'k1',
    transaction: { mailingListId: 'CG_1', transactionDate: '2026-01-02 03:04:05', data: { n: 1, s: 'x' } },
  }
  it.each([
    [
      'the same, as sent',
      { id: 'CTR_1', mailingListId: 'CG_1', transactionDate: '2026-01-02 03:04:05', data: { n: 1, s: 'x' } },
      true,
    ],
    [
      'another date format, values as strings',
      { id: 'CTR_1', transactionDate: '2026-01-02T03:04:05.000Z', data: { n: '1', s: 'x' } },
      true,
    ],
    [
      'its key listed',
      { id: 'CTR_1', key: 'k1', transactionDate: '2026-01-02 03:04:05', data: { n: 1, s: 'x' } },
      true,
    ],
    [
      'another key listed',
      { id: 'CTR_1', key: 'k2', transactionDate: '2026-01-02 03:04:05', data: { n: 1, s: 'x' } },
      false,
    ],
    [
      'another instant',
      { id: 'CTR_1', transactionDate: '2026-01-02 03:04:06', data: { n: 1, s: 'x' } },
      false,
    ],
    [
      'another list',
      { id: 'CTR_1', mailingListId: 'CG_2', transactionDate: '2026-01-02 03:04:05', data: { n: 1, s: 'x' } },
      false,
    ],
    ['other data', { id: 'CTR_1', transactionDate: '2026-01-02 03:04:05', data: { n: 2, s: 'x' } }, false],
    ['no date', { id: 'CTR_1', data: { n: 1, s: 'x' } }, false],
  ])('%s → %s', (_name, listed, expected) => {
    expect(isSameTransaction(listed, sent)).toBe(expected)
  })
})
