// Via the proxy: a real analytics-node instance with the plugin in proxy mode, posting to the real proxy
// (`startServer` from @qualtrics-relay/proxy) in sandbox mode, which delivers to the sandbox it started.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseConfig, SANDBOX_PLACEHOLDERS, startServer, type RunningServer } from '@qualtrics-relay/proxy'
import type { RunningSandbox } from '@qualtrics-relay/sandbox'
import type { Analytics } from '@segment/analytics-node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  createQualtricsNodePlugin,
  QualtricsDeliveryError,
  type ProxyModeOptions,
  type QualtricsNodePlugin,
} from '@qualtrics-relay/node-plugin'
import { collectErrors, identify, offlineAnalytics, track } from './helpers'

const IDENTITY_SECRET = 'identity-secret-for-node-plugin-tests'
const quiet = { write: () => undefined }

let proxy: RunningServer
let sandbox: RunningSandbox
let analytics: Analytics
let plugin: QualtricsNodePlugin | undefined

const mappings = [
  { id: 'contact', action: 'addContactToXmd', fields: { directoryId: SANDBOX_PLACEHOLDERS.directoryId } },
  {
    id: 'purchase',
    action: 'upsertContactTransaction',
    fields: {
      directoryId: SANDBOX_PLACEHOLDERS.directoryId,
      mailingListId: SANDBOX_PLACEHOLDERS.mailingListId,
    },
  },
  {
    id: 'feedback',
    action: 'triggerXflowWorkflow',
    trigger: 'type = "track" and event = "Feedback Requested"',
    fields: { workflowUrl: SANDBOX_PLACEHOLDERS.workflowUrl },
  },
]

beforeAll(async () => {
  const file = {
    mode: 'sandbox',
    server: { port: 0, host: '127.0.0.1' },
    storage: { path: ':memory:' },
    rateLimits: { perIp: false, perWriteKey: false },
    delivery: { transactionLingerMs: 5, retryBaseMs: 5, retryMaxMs: 50, pollIntervalMs: 20 },
    logLevel: 'silent',
    writeKeys: {
      wk_server: { name: 'Server app', mappings },
      wk_signed: { name: 'Signed server app', mappings, identity: { secretEnv: 'NODE_PLUGIN_IDENTITY' } },
    },
  }
  const config = parseConfig(
    { NODE_PLUGIN_IDENTITY: IDENTITY_SECRET },
    JSON.stringify(file),
    'node-plugin test',
  )
  proxy = await startServer(config, { logDestination: quiet, processMetrics: false, closeGraceMs: 1_000 })
  if (!proxy.sandbox) throw new TypeError('the proxy did not start its sandbox')
  sandbox = proxy.sandbox
})
afterAll(async () => {
  await proxy.close()
})
beforeEach(() => {
  sandbox.reset()
  analytics = offlineAnalytics()
})
afterEach(async () => {
  await analytics.closeAndFlush({ timeout: 5_000 })
  await plugin?.close({ timeoutMs: 5_000 }).catch(() => undefined)
  plugin = undefined
})

async function withPlugin(extra: Partial<ProxyModeOptions> = {}): Promise<QualtricsNodePlugin> {
  plugin = createQualtricsNodePlugin({ proxyUrl: proxy.url, writeKey: 'wk_server', ...extra })
  await analytics.register(plugin)
  return plugin
}

const purchase = (userId: string, messageId: string, total: number) => ({
  userId,
  messageId,
  event: 'Transaction Created',
  properties: { total },
})

describe('via the proxy', () => {
  it('uses the mappings from the proxy and gets identify and track events delivered, once each', async () => {
    const p = await withPlugin()
    await identify(analytics, { userId: 'user-p', traits: { email: 'pat@example.com', firstName: 'Pat' } })
    const outcomes = await Promise.all([
      track(analytics, purchase('user-p', 'p-1', 1)),
      track(analytics, purchase('user-p', 'p-2', 2)),
      track(analytics, purchase('user-p', 'p-1', 1)),
      track(analytics, { userId: 'user-p', event: 'Feedback Requested' }),
    ])
    expect(outcomes.map((o) => o.err)).toEqual([undefined, undefined, undefined, undefined])
    await p.flush()
    await proxy.engine.flush()

    const snapshot = sandbox.inspect()
    expect(snapshot.contacts.filter((c) => c.extRef === 'user-p')).toEqual([
      expect.objectContaining({ email: 'pat@example.com', firstName: 'Pat' }),
    ])
    expect(snapshot.transactions.map((t) => t.data.total).sort()).toEqual([1, 2])
    expect(snapshot.workflowRuns).toHaveLength(1)
  })

  it('with waitForDelivery, the callback fires only once Qualtrics has the data', async () => {
    await withPlugin({ waitForDelivery: true })
    const { err } = await track(analytics, purchase('user-q', 'q-1', 7))
    expect(err).toBeUndefined()
    expect(sandbox.inspect().transactions.map((t) => t.data.total)).toEqual([7])
  })

  it('evaluates local mappings instead of fetching them, and reports what the proxy refuses', async () => {
    await withPlugin({
      mappings: [
        {
          id: 'purchase',
          action: 'upsertContactTransaction',
          fields: { directoryId: sandbox.directoryId, mailingListId: sandbox.mailingListId },
        },
        {
          id: 'not-on-proxy',
          action: 'addContactToXmd',
          trigger: 'type = "track"',
          fields: { directoryId: sandbox.directoryId },
        },
      ],
    })
    const errors = collectErrors(analytics)
    const { err } = await track(analytics, purchase('user-l', 'l-1', 3))

    expect(errors.map((e) => e.code)).toEqual(['delivery_failure'])
    expect(err).toBeInstanceOf(QualtricsDeliveryError)
    expect((err as Error).message).toMatchInlineSnapshot(`
      "Qualtrics: 1 mapping of event l-1 failed
        - not-on-proxy (addContactToXmd): The proxy rejected the item: UNKNOWN_MAPPING: No mapping "not-on-proxy" for this write key: mapping is not a mapping of this write key (Received: "not-on-proxy")"
    `)
    await proxy.engine.flush()
    expect(sandbox.inspect().transactions.map((t) => t.data.total)).toEqual([3])
  })

  it('signs the userId when the write key requires signed identities', async () => {
    await withPlugin({ writeKey: 'wk_signed', identitySecret: IDENTITY_SECRET, waitForDelivery: true })
    const { err } = await identify(analytics, { userId: 'user-s', traits: { email: 's@example.com' } })
    expect(err).toBeUndefined()
    expect(sandbox.inspect().contacts.filter((c) => c.extRef === 'user-s')).toHaveLength(1)
  })

  it('reports a wrong identity secret as refused, per event', async () => {
    await withPlugin({ writeKey: 'wk_signed', identitySecret: 'not-the-secret-of-this-key' })
    const { err } = await identify(analytics, { userId: 'user-t', messageId: 'sig-1' })
    expect((err as Error).message).toMatchInlineSnapshot(`
      "Qualtrics: 1 mapping of event sig-1 failed
        - contact (addContactToXmd): The proxy answered 403 to POST /v1/batch: IDENTITY_INVALID: Every item of the batch was refused
            - identity.signature: does not match identity.userId"
    `)
  })

  it('retries a batch the proxy answered with 503 and delivers it once', async () => {
    let refusals = 2
    const flaky: typeof fetch = (input, init) => {
      if (String(input).endsWith('/v1/batch') && refusals-- > 0) {
        return Promise.resolve(
          Response.json({ error: { code: 'NOT_READY', message: 'starting' } }, { status: 503 }),
        )
      }
      return fetch(input, init)
    }
    const p = await withPlugin({ fetch: flaky })
    const { err } = await track(analytics, purchase('user-r', 'r-1', 5))
    expect(err).toBeUndefined()
    expect(refusals).toBe(-1)
    await p.flush()
    await proxy.engine.flush()
    expect(sandbox.inspect().transactions.map((t) => t.data.total)).toEqual([5])
  })

  it('reports an unreachable proxy on the event, and closeAndFlush still returns', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const { port } = closed.address() as AddressInfo
    await new Promise<void>((resolve) => closed.close(() => resolve()))

    plugin = createQualtricsNodePlugin({
      proxyUrl: `http://127.0.0.1:${port}`,
      writeKey: 'wk_server',
      mappings: [{ id: 'contact', action: 'addContactToXmd', fields: { directoryId: sandbox.directoryId } }],
      maxAttempts: 2,
    })
    await analytics.register(plugin)
    const errors = collectErrors(analytics)
    const { err } = await identify(analytics, { userId: 'user-u', messageId: 'down-1' })
    await analytics.closeAndFlush({ timeout: 5_000 })

    expect(errors).toHaveLength(1)
    expect((err as QualtricsDeliveryError).code).toBe('NETWORK_ERROR')
    expect((err as Error).message.replace(String(port), 'PORT')).toMatchInlineSnapshot(`
      "Qualtrics: 1 mapping of event down-1 failed
        - contact (addContactToXmd): Could not reach the proxy for POST /v1/batch at http://127.0.0.1:PORT: ECONNREFUSED"
    `)
  })

  it('revalidates stale settings with their ETag in the background', async () => {
    const settingsAnswers: number[] = []
    const recording: typeof fetch = async (input, init) => {
      const response = await fetch(input, init)
      if (String(input).includes('/v1/settings')) settingsAnswers.push(response.status)
      return response
    }
    const p = await withPlugin({ fetch: recording, settingsMaxAgeMs: 0 })
    await track(analytics, purchase('user-e', 'e-1', 1))
    await track(analytics, purchase('user-e', 'e-2', 2))
    await p.flush()
    await proxy.engine.flush()

    expect(settingsAnswers[0]).toBe(200)
    expect(settingsAnswers.slice(1)).toContain(304)
    expect(
      sandbox
        .inspect()
        .transactions.map((t) => t.data.total)
        .sort(),
    ).toEqual([1, 2])
  })
})
