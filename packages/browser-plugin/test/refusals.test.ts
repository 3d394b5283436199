// Refusals a site owner must be able to read: a page on an origin the write key does not allow, and a
// wrong write key. A real analytics-next with the plugin talks to the real proxy through a fetch that
// enforces CORS as a browser does; each refusal must fail every waiting event at once, with the proxy's
// code and what to check, instead of "Failed to fetch" and settings retried for ever.
import { Writable } from 'node:stream'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig, startServer, type RunningServer } from '@qualtrics-relay/proxy'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import type { Context, Plugin } from '@segment/analytics-next'
import { createQualtricsPlugin, type QualtricsPluginOptions } from '../src/index'
import { corsFetch } from './support/cors-fetch'
import { loadAnalytics, memoryStorage, recordingLogger } from './support/harness'

const WRITE_KEY = 'wk_refusals'
const SHOP = 'https://shop.example'

let sandbox: RunningSandbox
let proxy: RunningServer
const logs: string[] = []

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, host: '127.0.0.1' })
  const file = {
    server: { port: 0, host: '127.0.0.1' },
    storage: { path: ':memory:' },
    rateLimits: { perIp: false, perWriteKey: false },
    writeKeys: {
      [WRITE_KEY]: {
        origins: [SHOP],
        mappings: [
          { id: 'contact', action: 'addContactToXmd', fields: { directoryId: sandbox.directoryId } },
        ],
      },
    },
  }
  const env = { QUALTRICS_API_TOKEN: sandbox.token, QUALTRICS_BASE_URL: sandbox.url }
  proxy = await startServer(parseConfig(env, JSON.stringify(file), 'refusals'), {
    logDestination: new Writable({ write: (chunk, _enc, done) => done(void logs.push(String(chunk))) }),
    processMetrics: false,
    closeGraceMs: 500,
  })
})
afterAll(async () => {
  await proxy.close()
  await sandbox.close()
})

const plugins: Plugin[] = []
afterEach(async () => {
  for (const p of plugins.splice(0)) await p.unload?.(undefined as never, undefined as never)
})

function plugin(pageOrigin: string, options: Partial<QualtricsPluginOptions> = {}): Plugin {
  const p = createQualtricsPlugin({
    proxyUrl: proxy.url,
    writeKey: WRITE_KEY,
    storage: memoryStorage(),
    flushIntervalMs: 0,
    fetch: corsFetch(pageOrigin),
    ...options,
  })
  plugins.push(p)
  return p
}

const reasonOf = (ctx: Context) => (ctx.failedDelivery()?.reason as Error | undefined)?.message

describe('settings refused by the proxy', () => {
  it('an origin the write key does not allow fails every waiting event, readably and for good', async () => {
    const { lines, logger } = recordingLogger()
    const analytics = await loadAnalytics([plugin('https://elsewhere.example', { debug: logger })])
    const errors: { code: string }[] = []
    analytics.on('error', (e: { code: string }) => void errors.push(e))
    const ctxs = await Promise.all([
      analytics.identify('user-o1', { email: 'o1@example.com' }),
      analytics.identify('user-o2', { email: 'o2@example.com' }),
      analytics.track('Signed Up'),
    ])
    for (const ctx of ctxs) {
      expect(reasonOf(ctx)?.replace(proxy.url, '<proxy>')).toBe(
        'Qualtrics settings could not be loaded from <proxy>/v1/settings (Received: HTTP 403 ORIGIN_NOT_ALLOWED: The origin "https://elsewhere.example" is not allowed for this write key; add it to its "origins")',
      )
    }
    expect(errors.map((e) => e.code)).toEqual(['delivery_failure', 'delivery_failure', 'delivery_failure'])
    // One debug line for the refusal, not one per event; and it was asked once, not retried.
    expect(lines.filter((l) => l.includes('ORIGIN_NOT_ALLOWED'))).toHaveLength(1)
    const requests = logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'request')
    expect(requests.filter((l) => String(l.route).endsWith('/settings'))).toEqual([
      expect.objectContaining({
        status: 403,
        code: 'ORIGIN_NOT_ALLOWED',
        origin: 'https://elsewhere.example',
      }),
    ])
    // A later event fails at once too.
    expect(reasonOf(await analytics.identify('user-o3', { email: 'o3@example.com' }))).toContain('403')
    expect(sandbox.inspect().contacts.filter((c) => c.extRef?.startsWith('user-o'))).toEqual([])
  })

  it('a wrong write key names the refusal code and what to check', async () => {
    const analytics = await loadAnalytics([plugin(SHOP, { writeKey: 'wk_typo' })])
    const ctx = await analytics.identify('user-w1', { email: 'w1@example.com' })
    expect(reasonOf(ctx)?.replace(proxy.url, '<proxy>')).toBe(
      `Qualtrics settings could not be loaded from <proxy>/v1/settings (Received: HTTP 401 UNKNOWN_WRITE_KEY: Unknown write key (Received: "wk_typo"); check the plugin's writeKey against the proxy's writeKeys)`,
    )
  })

  it('the allowed origin is served and delivers', async () => {
    const analytics = await loadAnalytics([plugin(SHOP)])
    const ctx = await analytics.identify('user-ok', { email: 'ok@example.com' })
    expect(ctx.failedDelivery()).toBeUndefined()
  })
})
