import { RelayError } from '../../errors'

/** A storage operation failed (closed store, I/O error, a schema newer than this code). */
export class StoreError extends RelayError {
  override readonly name = 'StoreError'
  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super('STORAGE_ERROR', message, {
      status: 503,
      retryable: options.retryable ?? true,
      cause: options.cause,
    })
  }
}

/** The message of a caught value, for a StoreError's text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
