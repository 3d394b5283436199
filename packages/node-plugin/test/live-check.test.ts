// checkLive against the sandbox (strict: `or` refused; lenient: honoured), and the plugin turning
// batched look-ups on from the record it writes, and from nothing else.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import type { Analytics } from '@segment/analytics-node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { checkLive, createQualtricsNodePlugin, type QualtricsNodePlugin } from '@qualtrics-relay/node-plugin'
import { FAST_DELIVERY, offlineAnalytics, sandboxMappings, track } from './helpers'

let sandbox: RunningSandbox
let analytics: Analytics
let plugin: QualtricsNodePlugin | undefined
let dir: string

beforeAll(async () => {
  sandbox = await startSandbox()
})
afterAll(async () => {
  await sandbox.close()
})
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'qr-node-live-'))
  sandbox.reset()
  sandbox.seed({
    directories: [{ id: sandbox.directoryId, contacts: [{ extRef: 'ann' }, { extRef: 'bob' }] }],
  })
  analytics = offlineAnalytics()
})
afterEach(async () => {
  await analytics.closeAndFlush({ timeout: 5_000 })
  await plugin?.close({ timeoutMs: 5_000 }).catch(() => undefined)
  plugin = undefined
  rmSync(dir, { recursive: true, force: true })
})

const options = (extra: Record<string, unknown> = {}) => ({
  apiToken: sandbox.token,
  baseUrl: sandbox.url,
  mappings: sandboxMappings(sandbox),
  delivery: FAST_DELIVERY,
  ...extra,
})

async function searchesForTwoKnownUsers(extra: Record<string, unknown>): Promise<number> {
  plugin = createQualtricsNodePlugin(options(extra))
  await analytics.register(plugin)
  const before = sandbox.inspect().requests.length
  await Promise.all(
    ['ann', 'bob'].map((userId) =>
      track(analytics, { userId, event: 'Transaction Created', properties: { total: 1 } }),
    ),
  )
  await plugin.flush()
  expect(sandbox.inspect().transactions).toHaveLength(2)
  return sandbox
    .inspect()
    .requests.slice(before)
    .filter((r) => r.route === 'searchContacts').length
}

describe('checkLive', () => {
  it('passes read-only against the published definition and records `or` look-ups as not honoured', async () => {
    const record = join(dir, 'live-check.json')
    const result = await checkLive(options({ liveCheckRecord: record }))
    expect(result.ok).toBe(true)
    expect(result.lines.map((l) => l.split(':')[0])).toEqual([
      'ok   whoami',
      `ok   directory ${sandbox.directoryId}`,
      `ok   mailing list ${sandbox.mailingListId}`,
      'ok   search',
      'ok   or lookups',
    ])
    expect(result.report.orLookups).toBe('not-honoured')
    expect(result.recordedIn).toBe(record)
    expect(JSON.parse(readFileSync(record, 'utf8'))).toMatchObject({ orLookups: 'not-honoured' })
    expect(sandbox.inspect().transactions).toEqual([])
  })

  it('where `or` is honoured (the lenient sandbox), records it, and the plugin then batches look-ups', async () => {
    sandbox.setBehaviour({ dialect: 'lenient' })
    const record = join(dir, 'live-check.json')
    expect((await checkLive(options({ liveCheckRecord: record }))).report.orLookups).toBe('honoured')
    expect(await searchesForTwoKnownUsers({ liveCheckRecord: record })).toBe(1)
  })

  it('without such a record, the plugin looks each user up with a leaf search', async () => {
    sandbox.setBehaviour({ dialect: 'lenient' })
    expect(await searchesForTwoKnownUsers({})).toBe(2)
  })

  it('does not let orLookups be set by hand', () => {
    expect(() => createQualtricsNodePlugin(options({ delivery: { orLookups: true } }))).toThrow(
      /delivery\.orLookups: is set by the plugin and cannot be given/,
    )
  })
})
