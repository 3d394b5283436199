// Durable delivery: with `storage.sqlitePath` or `storage.databaseUrl` (PostgreSQL), what one process
// accepted and could not deliver is delivered by the next process on the same database, once, and the
// bounded waits say what is left.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createQualtricsNodePlugin, PluginTimeoutError } from '@qualtrics-relay/node-plugin'
import { createTestDatabase } from '../../../test-support/postgres'
import { FAST_DELIVERY, offlineAnalytics, requestsTo, track } from './helpers'

const db = await createTestDatabase()
let sandbox: RunningSandbox
let dir: string
beforeAll(async () => {
  sandbox = await startSandbox()
  dir = mkdtempSync(join(tmpdir(), 'qualtrics-node-plugin-'))
})
afterAll(async () => {
  await sandbox.close()
  rmSync(dir, { recursive: true, force: true })
})

type Storage = { sqlitePath: string } | { databaseUrl: string; schema?: string }

function pluginOn(storage: Storage) {
  return createQualtricsNodePlugin({
    apiToken: sandbox.token,
    baseUrl: sandbox.url,
    mappings: [
      {
        id: 'purchase',
        action: 'upsertContactTransaction',
        fields: { directoryId: sandbox.directoryId, mailingListId: sandbox.mailingListId },
      },
    ],
    // Many attempts: the items must still be pending, not dead letters, when the next process starts.
    delivery: { ...FAST_DELIVERY, maxAttempts: 10_000 },
    storage,
  })
}

describe.each([
  ['SQLite', (): Storage => ({ sqlitePath: join(dir, 'queue.db') })],
  ['PostgreSQL', (): Storage => ({ databaseUrl: db.url, schema: 'plugin_queue' })],
])('durable delivery with %s', (_name, storageFor) => {
  it('delivers in the next process what Qualtrics refused to take before this one closed', async () => {
    sandbox.reset()
    const storage = storageFor()
    sandbox.setFaults([{ kind: 'http-error', status: 503, route: 'createTransactions' }])

    const first = pluginOn(storage)
    const analytics = offlineAnalytics()
    await analytics.register(first)
    const outcomes = await Promise.all(
      [1, 2, 3, 4, 5].map((n) =>
        track(analytics, {
          userId: 'user-d',
          messageId: `durable-${n}`,
          event: 'Transaction Created',
          properties: { n },
        }),
      ),
    )
    expect(outcomes.map((o) => o.err)).toEqual([undefined, undefined, undefined, undefined, undefined])
    await analytics.closeAndFlush({ timeout: 5_000 })

    const flushed = first.flush({ timeoutMs: 300 })
    await expect(flushed).rejects.toBeInstanceOf(PluginTimeoutError)
    await expect(flushed).rejects.toThrowErrorMatchingInlineSnapshot(
      `[PluginTimeoutError: Qualtrics: flush did not finish within 300 ms; 5 items not settled]`,
    )
    await expect(first.close({ timeoutMs: 200 })).rejects.toBeInstanceOf(PluginTimeoutError)
    expect(requestsTo(sandbox, 'createTransactions')).toContain(503)
    expect(sandbox.inspect().transactions).toEqual([])

    sandbox.setFaults([])
    const second = pluginOn(storage)
    await second.flush()
    await second.close()

    const snapshot = sandbox.inspect()
    expect(snapshot.transactions.map((t) => t.data.n).sort()).toEqual([1, 2, 3, 4, 5])
    expect(Object.values(snapshot.transactionKeyCounts)).toEqual([1, 1, 1, 1, 1])
  })
})
