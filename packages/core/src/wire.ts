// What the plugins and the proxy say to each other over HTTP (JSON). See ARCHITECTURE.md.
import type { ActionKey } from './actions/payloads'
import type { MappingSpec } from './mapping-set'

/**
 * The format of the settings document (its compiled triggers and mapping programs). A plugin uses only
 * served settings of the version it was built for; it goes up whenever the program or trigger format
 * changes, so a site's plugin and a newer or older proxy never misread each other.
 */
export const SETTINGS_VERSION = 1

/** `GET /v1/settings?writeKey=…` */
export interface PublicSettings {
  /** SETTINGS_VERSION of the proxy that served it; inline settings (built with the same core) may omit it. */
  version?: number
  writeKey: string
  mappings: MappingSpec[]
  /** Origins besides https://*.qualtrics.com that workflow URLs may use (the sandbox, in sandbox mode). */
  workflowOrigins?: string[]
}

/** One mapped payload of one event, as the plugin sends it. */
export interface BatchItem {
  messageId: string
  mapping: string
  action: ActionKey
  payload: Record<string, unknown>
  /** With signed identities on: the userId and the HMAC the site's backend made for it. */
  identity?: { userId: string; signature: string }
}

/** `POST /v1/batch` */
export interface BatchRequest {
  writeKey: string
  sentAt?: string
  items: BatchItem[]
}

export type ItemStatus = 'accepted' | 'duplicate' | 'rejected'

export interface ItemResult {
  messageId: string
  mapping: string
  status: ItemStatus
  error?: { code: string; message: string }
}

/** `202` answer to `POST /v1/batch`, sent only after the accepted items are stored. */
export interface BatchResponse {
  results: ItemResult[]
}

/** `GET /v1/messages/:messageId` */
export interface MessageStatus {
  messageId: string
  items: {
    mapping: string
    action: ActionKey
    state: 'pending' | 'delivered' | 'dead'
    attempts: number
    lastError?: string
    deliveredAt?: string
  }[]
}

/** Every error the proxy answers with. */
export interface ErrorBody {
  error: { code: string; message: string; requestId?: string; issues?: { path: string; message: string }[] }
}
