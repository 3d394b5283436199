// analytics-next, loaded without Segment's CDN or API: the only destination is the Qualtrics plugin,
// pointed at the qualtrics-relay proxy. Two small additions feed the live panel: an enrichment plugin
// that records each event, and a `fetch` that records the batches the plugin sends and the answers.
import { createQualtricsPlugin } from '@qualtrics-relay/browser-plugin'
import type { BatchItem, BatchRequest, BatchResponse, ErrorBody } from '@qualtrics-relay/core'
import {
  AnalyticsBrowser,
  type Analytics,
  type CDNSettings,
  type Context,
  type Plugin,
} from '@segment/analytics-next'
import type { SiteConfig } from './config'
import type { EventLog, Link } from './event-log'

/** No Segment CDN request and no metrics to Segment's API; `integrations: {}` is all analytics-next reads,
 * though its type asks for a Segment.io entry. */
const OFFLINE_CDN_SETTINGS = { integrations: {}, metrics: { sampleRate: 0 } } as unknown as CDNSettings

export async function loadAnalytics(config: SiteConfig, log: EventLog): Promise<Analytics> {
  const qualtrics = createQualtricsPlugin({
    proxyUrl: config.proxyUrl,
    writeKey: config.writeKey,
    flushIntervalMs: config.flushIntervalMs,
    fetch: createRecordingFetch(log),
    debug: config.debug,
  })
  const [analytics] = await AnalyticsBrowser.load(
    {
      writeKey: config.writeKey,
      cdnSettings: OFFLINE_CDN_SETTINGS,
      plugins: [createRecorder(log), qualtrics],
    },
    { integrations: { 'Segment.io': false } },
  )
  // The plugin reports what it could not map or deliver on the analytics `error` event.
  analytics.on('error', (error) => {
    const ctx = (error as { ctx?: Context }).ctx
    const reason = (error as { reason?: unknown }).reason
    const messageId = ctx?.event.messageId
    if (messageId) log.failed(messageId, reason instanceof Error ? reason.message : String(reason))
  })
  return analytics
}

/** Records every identify and track event as it enters the pipeline, with what it should produce. */
function createRecorder(log: EventLog): Plugin {
  const record = (ctx: Context): Context => {
    const event = ctx.event
    if (event.messageId) {
      const name = event.type === 'track' ? (event.event ?? 'track') : 'Identify'
      log.add({
        messageId: event.messageId,
        type: event.type,
        name,
        at: event.timestamp instanceof Date ? event.timestamp.toISOString() : new Date().toISOString(),
        summary: summarise(ctx),
        link: linkOf(ctx),
        event: JSON.parse(JSON.stringify(event)) as Record<string, unknown>,
        items: [],
      })
    }
    return ctx
  }
  return {
    name: 'Demo event recorder',
    type: 'enrichment',
    version: '1.0.0',
    isLoaded: () => true,
    load: async () => {},
    identify: record,
    track: record,
  }
}

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined

function summarise(ctx: Context): string {
  const { type, traits, properties } = ctx.event
  if (type === 'identify') {
    const name = text(traits?.name) ?? [traits?.firstName, traits?.lastName].filter(Boolean).join(' ')
    return `${name || 'someone'} <${text(traits?.email) ?? 'no e-mail'}>`
  }
  if (ctx.event.event === 'Transaction Created') {
    const products = Array.isArray(properties?.products) ? (properties.products as { name?: string }[]) : []
    const total = typeof properties?.total === 'number' ? properties.total.toFixed(2) : '?'
    return `${products.map((p) => p.name).join(', ') || 'an order'} · ${total} ${text(properties?.currency) ?? ''}`.trim()
  }
  if (ctx.event.event === 'Feedback Requested') return `about ${text(properties?.topic) ?? 'the shop'}`
  return ''
}

function linkOf(ctx: Context): Link {
  const { type, userId, traits, properties } = ctx.event
  if (type === 'identify' && text(userId)) {
    const email = text(traits?.email)
    return email ? { kind: 'contact', userId: userId!, email } : { kind: 'contact', userId: userId! }
  }
  if (ctx.event.event === 'Transaction Created' && text(properties?.orderId)) {
    return { kind: 'transaction', orderId: properties!.orderId as string }
  }
  if (ctx.event.event === 'Feedback Requested' && text(properties?.requestId)) {
    return { kind: 'workflow', requestId: properties!.requestId as string }
  }
  return { kind: 'none' }
}

/** The global fetch, recording the plugin's batches (`POST …/v1/batch`) and the proxy's answers. */
function createRecordingFetch(log: EventLog): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    const isBatch = init?.method === 'POST' && /\/v1\/batch$/.test(url) && typeof init.body === 'string'
    let items: BatchItem[] = []
    if (isBatch) {
      try {
        items = (JSON.parse(init.body as string) as BatchRequest).items
        log.sent(items)
      } catch {
        // not ours to judge: the proxy answers it
      }
    }
    const response = await fetch(input, init)
    if (isBatch) {
      const { status } = response
      response
        .clone()
        .json()
        .then((answer: BatchResponse & Partial<ErrorBody>) => {
          if (response.ok) log.answered(answer.results)
          // A refusal of the whole batch (4xx but 408/429, which the plugin retries) is final.
          else if (status < 500 && status !== 408 && status !== 429) {
            const error = answer.error ?? { code: `HTTP_${status}`, message: 'refused' }
            log.answered(
              items.map((i) => ({ messageId: i.messageId, mapping: i.mapping, status: 'rejected', error })),
            )
          }
        })
        .catch(() => {})
    }
    return response
  }
}

/**
 * The items waiting in the plugin's queue in this browser (it keeps them in localStorage until the proxy
 * has them, which is what makes a reload safe). Read-only: the demo shows them, the plugin owns them.
 */
export function readQueuedItems(storage: Storage, writeKey: string): BatchItem[] {
  const prefix = `qr:${writeKey}:q:`
  const items: BatchItem[] = []
  for (let i = 0; i < storage.length; i++) {
    const key = storage.key(i)
    if (!key?.startsWith(prefix)) continue
    try {
      const saved = JSON.parse(storage.getItem(key) ?? '{}') as { q?: [number, BatchItem][] }
      for (const [, item] of saved.q ?? []) items.push(item)
    } catch {
      // a key being written: read it next time
    }
  }
  return items
}
