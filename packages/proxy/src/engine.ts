// The part of core's delivery engine the HTTP layer uses.
import type { DeliveryEngine } from '@qualtrics-relay/core/server'

export type RelayEngine = Pick<
  DeliveryEngine,
  'enqueue' | 'status' | 'listDeadLetters' | 'replayDeadLetters' | 'circuitState'
>
