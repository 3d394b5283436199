// Errors of the sandbox itself (bad options, bad seed, bad fault rules, persistence). The sandbox
// imports nothing of the project, so it carries its own small error class.

export type SandboxErrorCode =
  | 'INVALID_OPTION'
  | 'INVALID_SEED'
  | 'INVALID_FAULT_RULE'
  | 'INVALID_RATE_LIMIT'
  | 'INVALID_CLI_ARGUMENT'
  | 'PERSIST_READ_FAILED'
  | 'PERSIST_WRITE_FAILED'

export class SandboxError extends Error {
  override readonly name = 'SandboxError'
  readonly code: SandboxErrorCode

  constructor(code: SandboxErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** A short, safe description of a received value for error messages: type and a clipped preview. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined'
  if (value === null) return 'null'
  if (typeof value === 'string') {
    const clipped = value.length > 40 ? `${value.slice(0, 40)}…` : value
    return `string ${JSON.stringify(clipped)}`
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${typeof value} ${String(value)}`
  }
  if (Array.isArray(value)) return `array of ${value.length}`
  if (typeof value === 'object') return 'object'
  return typeof value
}
