// Pollers behind the live panel: the plugin's queue in this browser, each event's delivery status at the
// proxy (`GET /v1/messages/:messageId`), and what the sandbox received (its inspection API).
import type { MessageStatus } from '@qualtrics-relay/core'
import type { SandboxSnapshot } from '@qualtrics-relay/sandbox'
import { readQueuedItems } from './analytics'
import type { SiteConfig } from './config'
import { isInFlight, type EventLog } from './event-log'

/** Calls `tick` now and then every `ms` (never two at once); returns a stop function. */
export function every(ms: number, tick: () => Promise<void> | void): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined
  let stopped = false
  const run = async () => {
    try {
      await tick()
    } finally {
      if (!stopped) timer = setTimeout(() => void run(), ms)
    }
  }
  void run()
  return () => {
    stopped = true
    clearTimeout(timer)
  }
}

export function watchQueue(config: SiteConfig, log: EventLog): () => void {
  return every(300, () => {
    try {
      log.queued(readQueuedItems(localStorage, config.writeKey))
    } catch {
      // storage blocked: nothing to show
    }
  })
}

/** How many times one event's status is asked before the panel gives up on it. */
const MAX_POLLS = 120

export function watchDeliveries(config: SiteConfig, log: EventLog): () => void {
  const polls = new Map<string, number>()
  const base = `${config.proxyUrl.replace(/\/+$/, '')}/v1/messages/`
  return every(1000, async () => {
    const due = log.list().filter((e) => isInFlight(e) && (polls.get(e.messageId) ?? 0) < MAX_POLLS)
    await Promise.all(
      due.map(async (event) => {
        polls.set(event.messageId, (polls.get(event.messageId) ?? 0) + 1)
        try {
          const url = `${base}${encodeURIComponent(event.messageId)}?writeKey=${encodeURIComponent(config.writeKey)}`
          const response = await fetch(url, { cache: 'no-store' })
          // 404: the proxy has not stored it yet (still in this browser, or on its way).
          if (response.ok) log.delivery((await response.json()) as MessageStatus)
        } catch {
          // the proxy is down or restarting: ask again next time
        }
      }),
    )
  })
}

export type SandboxView =
  | { state: 'off' }
  | { state: 'loading' }
  | { state: 'error'; message: string }
  | { state: 'ok'; snapshot: SandboxSnapshot }

export function watchSandbox(config: SiteConfig, onView: (view: SandboxView) => void): () => void {
  if (!config.sandbox) {
    onView({ state: 'off' })
    return () => {}
  }
  onView({ state: 'loading' })
  return every(1500, async () => {
    const failed = (why: string) =>
      onView({ state: 'error', message: `The sandbox's inspection API (/__sandbox/state) ${why}` })
    try {
      const response = await fetch('/__sandbox/state', { cache: 'no-store' })
      if (response.ok) onView({ state: 'ok', snapshot: (await response.json()) as SandboxSnapshot })
      else failed(`answered HTTP ${response.status}`)
    } catch (error) {
      failed(`did not answer: ${error instanceof Error ? error.message : String(error)}`)
    }
  })
}
