// What the panel's API answers when a request cannot be done: a code, an HTTP status and a message that
// says what was received.

export type ClusterErrorCode =
  | 'UNKNOWN_INSTANCE'
  | 'ALREADY_DOWN'
  | 'ALREADY_RUNNING'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'FORBIDDEN'
  | 'UNSUPPORTED_MEDIA_TYPE'

export class ClusterError extends Error {
  override readonly name = 'ClusterError'
  constructor(
    readonly code: ClusterErrorCode,
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}
