// Shared by the node plugin's tests: a real analytics-node instance that never calls Segment, and small
// promise wrappers around its callback API.
import { Analytics, type Context, type IdentifyParams, type TrackParams } from '@segment/analytics-node'
import type { RunningSandbox } from '@qualtrics-relay/sandbox'

/** analytics-node with its own HTTP off (spec 2.5): plugins still run, nothing leaves the machine. */
export function offlineAnalytics(): Analytics {
  return new Analytics({ writeKey: 'offline-test', disable: true, flushAt: 1 })
}

export interface Outcome {
  err: unknown
  ctx: Context | undefined
}

/** Resolves after the call's callback and after analytics-node's `'error'`/`'track'` emit that follows it. */
function settled(call: (callback: (err?: unknown, ctx?: Context) => void) => void): Promise<Outcome> {
  return new Promise((resolve) => call((err, ctx) => setImmediate(() => resolve({ err, ctx }))))
}

export function track(analytics: Analytics, params: TrackParams): Promise<Outcome> {
  return settled((callback) => analytics.track(params, callback))
}

export function identify(analytics: Analytics, params: IdentifyParams): Promise<Outcome> {
  return settled((callback) => analytics.identify(params, callback))
}

/** Every `'error'` analytics-node emits, as `{ code, reason }`. */
export function collectErrors(analytics: Analytics): { code: string; reason: unknown }[] {
  const errors: { code: string; reason: unknown }[] = []
  analytics.on('error', (error) =>
    errors.push({ code: error.code, reason: (error as { reason?: unknown }).reason }),
  )
  return errors
}

/** Requests the sandbox received for one route, by status. */
export function requestsTo(sandbox: RunningSandbox, route: string): number[] {
  return sandbox
    .inspect()
    .requests.filter((r) => r.route === route)
    .map((r) => r.status)
}

/** The mappings most tests use, with the sandbox's ids. */
export function sandboxMappings(sandbox: RunningSandbox) {
  return [
    { id: 'contact', action: 'addContactToXmd' as const, fields: { directoryId: sandbox.directoryId } },
    {
      id: 'purchase',
      action: 'upsertContactTransaction' as const,
      fields: { directoryId: sandbox.directoryId, mailingListId: sandbox.mailingListId },
    },
    {
      id: 'feedback',
      action: 'triggerXflowWorkflow' as const,
      trigger: 'type = "track" and event = "Feedback Requested"',
      fields: { workflowUrl: sandbox.workflowUrl },
    },
  ]
}

/** Fast retries, so fault tests take milliseconds instead of seconds. */
export const FAST_DELIVERY = { retryBaseMs: 5, retryMaxMs: 50, transactionLingerMs: 20 }
