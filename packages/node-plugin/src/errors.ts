// What a hook reports with `ctx.setFailedDelivery({ reason })`, so analytics-node emits `'error'`
// (`{ code: 'delivery_failure', reason, ctx }`) and the per-call callback receives `reason`.
import { RelayError, type ActionKey, type RelayErrorCode } from '@qualtrics-relay/core'

/** Which mapping of which event failed, and why. */
export interface MappingFailureDetail {
  messageId: string
  mappingId: string
  action: ActionKey
  /** The underlying failure: a PayloadValidationError, a Qualtrics or proxy error, a timeout. */
  error: RelayError
}

/**
 * One or more mappings of one event were not accepted or not delivered. `failures` lists each of them;
 * `code` is the failure's own code when there is one, `DELIVERY_FAILED` when there are several kinds.
 */
export class QualtricsDeliveryError extends RelayError {
  override readonly name = 'QualtricsDeliveryError'
  readonly messageId: string
  readonly failures: readonly MappingFailureDetail[]

  constructor(messageId: string, failures: readonly MappingFailureDetail[]) {
    const codes = new Set(failures.map((f) => f.error.code))
    const only = failures.length === 1 ? failures[0] : undefined
    const code: RelayErrorCode =
      codes.size === 1 ? (failures[0]?.error.code ?? 'DELIVERY_FAILED') : 'DELIVERY_FAILED'
    const lines = failures.map((f) => `  - ${f.mappingId} (${f.action}): ${indent(f.error.message)}`)
    const count = `${failures.length} mapping${failures.length === 1 ? '' : 's'}`
    super(code, `Qualtrics: ${count} of event ${messageId} failed\n${lines.join('\n')}`, {
      retryable: failures.every((f) => f.error.retryable),
      ...(only?.error.status === undefined ? {} : { status: only.error.status }),
      ...(only ? { cause: only.error } : {}),
    })
    this.messageId = messageId
    this.failures = failures
  }
}

/** An item the delivery engine gave up on, or the proxy refused; `code` is the engine's or proxy's. */
export class ItemDeliveryError extends RelayError {
  override readonly name = 'ItemDeliveryError'
  /** The code the engine stored or the proxy answered, e.g. `QUALTRICS_API_ERROR`, `FORBIDDEN`. */
  readonly reasonCode: string

  constructor(message: string, reasonCode: string, options: { status?: number; retryable?: boolean } = {}) {
    super('DELIVERY_FAILED', message, options)
    this.reasonCode = reasonCode
  }
}

/** A wait of the plugin ran out: the item may still be delivered later (it stays queued or stored). */
export class PluginTimeoutError extends RelayError {
  override readonly name = 'PluginTimeoutError'
  readonly timeoutMs: number

  constructor(message: string, timeoutMs: number) {
    super('TIMEOUT', message, { retryable: true })
    this.timeoutMs = timeoutMs
  }
}

/** The proxy answered with an error, or could not be reached. */
export class ProxyError extends RelayError {
  override readonly name = 'ProxyError'
  constructor(
    code: Extract<RelayErrorCode, 'NETWORK_ERROR' | 'TIMEOUT' | 'DELIVERY_FAILED'>,
    message: string,
    options: { status?: number; retryable: boolean; cause?: unknown },
  ) {
    super(code, message, options)
  }
}

function indent(text: string): string {
  return text.split('\n').join('\n    ')
}
