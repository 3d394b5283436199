// The SQLite store: the shared contract on a real file and on :memory:, plus what only a durable store
// has (reopening, WAL, schema versions, bad options).

import { spawn, type ChildProcess } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/errors'
import { StoreError } from '../../src/server/store/errors'
import type { ContactCacheEntry } from '../../src/server/store/types'
import { deriveItemId } from '../../src/server/delivery/keys'
import { createSqliteStore, SQLITE_SCHEMA_VERSION } from '../../src/sqlite/index'
import { openDatabase } from '../../src/sqlite/open-database'
import { resolveSqliteStoreOptions } from '../../src/sqlite/sqlite-store'
import { describeStoreContract } from '../delivery/store-contract'

const dir = mkdtempSync(join(tmpdir(), 'qr-sqlite-'))
let files = 0
const freshFile = () => join(dir, `store-${++files}.db`)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describeStoreContract('SQLite file', () => createSqliteStore({ path: freshFile() }))
describeStoreContract('SQLite :memory:', () => createSqliteStore({ path: ':memory:' }))

const T0 = 1_700_000_000_000
const workflow = (messageId: string) => ({
  id: deriveItemId({ messageId, mappingId: 'm1' }),
  messageId,
  mappingId: 'm1',
  action: 'triggerXflowWorkflow' as const,
  payload: { workflowUrl: 'https://iad1.qualtrics.com/x', eventPayload: { a: [1, { b: 'c' }] } },
})

/** The schema as version 1 wrote it (before items had a lookupBy). */
const SCHEMA_V1 = `
  CREATE TABLE items (
    id TEXT PRIMARY KEY, message_id TEXT NOT NULL, mapping_id TEXT NOT NULL, action TEXT NOT NULL,
    payload TEXT NOT NULL, source TEXT, state TEXT NOT NULL, attempts INTEGER NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL,
    lease_owner TEXT, lease_until INTEGER, delivered_at INTEGER, last_error TEXT, result TEXT,
    UNIQUE (message_id, mapping_id)
  ) STRICT;
  CREATE INDEX items_pending_due ON items (next_attempt_at) WHERE state = 'pending';
  CREATE INDEX items_leased_until ON items (lease_until) WHERE state = 'leased';
  CREATE INDEX items_state_updated ON items (state, updated_at);
  CREATE INDEX items_dead ON items (id) WHERE state = 'dead';
  CREATE TABLE contacts (key TEXT PRIMARY KEY, contact_id TEXT NOT NULL, expires_at INTEGER NOT NULL) STRICT;
  CREATE INDEX contacts_expires ON contacts (expires_at);
`

describe('createSqliteStore', () => {
  it('keeps items, leases and contact ids across a reopen of the file', async () => {
    const path = freshFile()
    const first = createSqliteStore({ path })
    await first.accept([workflow('a'), workflow('b')], T0)
    await first.claim({ now: T0, limit: 1, leaseMs: 1000, owner: 'crashed' })
    await first.putContacts([{ key: 'k', contactId: 'CID_1', expiresAt: T0 + 10_000 }])
    await first.close()

    const second = createSqliteStore({ path })
    expect(await second.counts()).toEqual({ pending: 1, leased: 1, delivered: 0, dead: 0 })
    expect(await second.getContact('k', T0)).toBe('CID_1')
    const claimed = await second.claim({ now: T0 + 1000, limit: 5, leaseMs: 1000, owner: 'e2' })
    expect(claimed.map((c) => c.messageId).sort()).toEqual(['a', 'b'])
    expect(claimed[0]!.payload).toEqual(workflow('a').payload)
    expect((await second.accept([workflow('a')], T0 + 2000))[0]!.status).toBe('duplicate')
    await second.close()
  })

  it('opens files in WAL mode at the current schema version', async () => {
    const path = freshFile()
    await createSqliteStore({ path }).close()
    const db = new Database(path, { readonly: true })
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_SCHEMA_VERSION)
    db.close()
  })

  it('defaults to synchronous FULL, so each commit is on disk before accept resolves', () => {
    expect(resolveSqliteStoreOptions({ path: 'x.db' })).toEqual({
      path: 'x.db',
      synchronous: 'full',
      busyTimeoutMs: 0,
    })
    for (const [synchronous, level] of [
      ['full', 2],
      ['normal', 1],
    ] as const) {
      const db = openDatabase({ path: freshFile(), synchronous, lockTimeoutMs: 0, now: () => new Date() })
      expect(db.pragma('synchronous', { simple: true })).toBe(level)
      db.close()
    }
  })

  it('refuses a database written by a newer version', () => {
    const path = freshFile()
    const db = new Database(path)
    db.pragma('user_version = 99')
    db.close()
    expect(() => createSqliteStore({ path })).toThrowErrorMatchingInlineSnapshot(
      `[StoreError: The SQLite database has schema version 99, newer than this code supports (4); upgrade qualtrics-relay]`,
    )
  })

  it('upgrades a version 1 database in place: its items keep working and new items keep their lookupBy', async () => {
    const path = freshFile()
    const old = new Database(path)
    old.exec(SCHEMA_V1)
    old.pragma('user_version = 1')
    old
      .prepare(
        `INSERT INTO items (id, message_id, mapping_id, action, payload, source, state, attempts, created_at,
                            updated_at, next_attempt_at) VALUES (?, 'old', 'm1', 'triggerXflowWorkflow', ?, NULL,
                            'pending', 0, ?, ?, ?)`,
      )
      .run(
        deriveItemId({ messageId: 'old', mappingId: 'm1' }),
        JSON.stringify(workflow('old').payload),
        T0,
        T0,
        T0,
      )
    old.close()

    const store = createSqliteStore({ path })
    await store.accept([{ ...workflow('new'), lookupBy: ['extRef'] }], T0 + 1)
    const claimed = await store.claim({ now: T0 + 1, limit: 5, leaseMs: 1000, owner: 'e' })
    expect(claimed.map((i) => [i.messageId, i.lookupBy])).toEqual([
      ['old', undefined],
      ['new', ['extRef']],
    ])
    expect(claimed[0]!.payload).toEqual(workflow('old').payload)
    await store.close()
    const db = new Database(path, { readonly: true })
    expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_SCHEMA_VERSION)
    db.close()
  })

  it('upgrades a file written by schema 2: every item keeps its id, a re-sent old event stays a duplicate, another source’s is new', async () => {
    // Written by the schema-2 code (see fixtures/README.md): ids derived from (messageId, mappingId) only.
    const path = freshFile()
    copyFileSync(new URL('./fixtures/schema-v2.db', import.meta.url), path)
    const oldId = (messageId: string, mappingId: string) => deriveItemId({ messageId, mappingId })
    const store = createSqliteStore({ path })
    expect(await store.counts()).toEqual({ pending: 2, leased: 1, delivered: 1, dead: 1 })
    expect(await store.getContact('POOL_1\u001fextRef\u001fu1', T0)).toBe('CID_1')
    const shop = await store.getByMessageId('order-1001', 'Shop')
    expect(shop.map((i) => [i.mappingId, i.id, i.state])).toEqual([
      ['feedback', oldId('order-1001', 'feedback'), 'pending'],
      ['purchase', oldId('order-1001', 'purchase'), 'pending'],
    ])
    const [delivered] = await store.getByMessageId('order-1000')
    expect(delivered).toMatchObject({ id: oldId('order-1000', 'purchase'), state: 'delivered' })
    expect(delivered?.result?.transactionKey).toBe(delivered?.id)

    const resent = (source: string | undefined, messageId: string, mappingId: string) => ({
      ...workflow(messageId),
      mappingId,
      id: deriveItemId({ source, messageId, mappingId }),
      ...(source === undefined ? {} : { source }),
    })
    const results = await store.accept(
      [
        resent('Shop', 'order-1001', 'purchase'),
        resent('Shop', 'order-1000', 'purchase'),
        resent('node-plugin', 'evt-1', 'contact'),
        resent(undefined, 'evt-2', 'contact'),
        resent('wk_other', 'order-1001', 'purchase'),
      ],
      T0 + 10,
    )
    expect(results.map((r) => [r.id, r.status])).toEqual([
      [oldId('order-1001', 'purchase'), 'duplicate'],
      [oldId('order-1000', 'purchase'), 'duplicate'],
      [oldId('evt-1', 'contact'), 'duplicate'],
      [oldId('evt-2', 'contact'), 'duplicate'],
      [deriveItemId({ source: 'wk_other', messageId: 'order-1001', mappingId: 'purchase' }), 'accepted'],
    ])
    // The queued old items are delivered under their old ids (= their transaction keys).
    const claimed = await store.claim({ now: T0 + 120_000, limit: 10, leaseMs: 1000, owner: 'new' })
    expect(claimed.map((i) => i.id).sort()).toEqual(
      [
        oldId('order-1001', 'purchase'),
        oldId('order-1001', 'feedback'),
        oldId('evt-2', 'contact'),
        results[4]!.id,
      ].sort(),
    )
    // schema 4: the re-send check's claims
    const claim = (itemId: string) =>
      store.claimListedTransaction({ directoryId: 'POOL_1', transactionId: 'CTR_1', itemId, now: T0 })
    expect(await claim(oldId('order-1001', 'purchase'))).toBe(true)
    expect(await claim(oldId('order-1001', 'feedback'))).toBe(false)
    await store.close()
    const db = new Database(path, { readonly: true })
    expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_SCHEMA_VERSION)
    db.close()
  })

  it('claims, on upgrade to schema 4, the transactions that items delivered before report', async () => {
    const path = freshFile()
    const old = new Database(path)
    old.exec(SCHEMA_V1)
    old.pragma('user_version = 1')
    const insert = old.prepare(`
      INSERT INTO items (id, message_id, mapping_id, action, payload, source, state, attempts, created_at,
                         updated_at, next_attempt_at, result)
      VALUES (?, ?, 'm1', 'upsertContactTransaction', ?, NULL, ?, 1, ${T0}, ${T0}, ${T0}, ?)`)
    const payload = JSON.stringify({
      directoryId: 'POOL_1',
      extRef: 'u1',
      transactionDate: '2024-05-01 12:00:00',
    })
    const id = (messageId: string) => deriveItemId({ messageId, mappingId: 'm1' })
    insert.run(id('sent'), 'sent', payload, 'delivered', JSON.stringify({ transactionId: 'CTR_1' }))
    insert.run(id('queued'), 'queued', payload, 'pending', null)
    old.close()

    const store = createSqliteStore({ path })
    const claim = (itemId: string, transactionId: string) =>
      store.claimListedTransaction({ directoryId: 'POOL_1', transactionId, itemId, now: T0 })
    expect(await claim(id('queued'), 'CTR_1')).toBe(false)
    expect(await claim(id('sent'), 'CTR_1')).toBe(true)
    expect(await claim(id('queued'), 'CTR_2')).toBe(true)
    await store.close()
  })

  it('gives a new file the same tables, columns and indexes as a file upgraded from schema 1', async () => {
    const fresh = freshFile()
    const upgraded = freshFile()
    await createSqliteStore({ path: fresh }).close()
    const old = new Database(upgraded)
    old.exec(SCHEMA_V1)
    old.pragma('user_version = 1')
    old.close()
    await createSqliteStore({ path: upgraded }).close()
    const shape = (path: string) => {
      const db = new Database(path, { readonly: true })
      const objects = db
        .prepare(
          `SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name`,
        )
        .all() as { type: string; name: string }[]
      const columns = objects
        .filter((o) => o.type === 'table')
        .map((o) => [o.name, db.pragma(`table_xinfo(${o.name})`)])
      const indexes = objects
        .filter((o) => o.type === 'index')
        .map((o) => [o.name, db.pragma(`index_xinfo(${o.name})`)])
      const sql = db
        .prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`)
        .all()
      db.close()
      return { objects, columns, indexes, sql }
    }
    const expected = shape(upgraded)
    expect(expected.objects.map((o) => o.name)).toContain('transaction_claims')
    expect(shape(fresh)).toEqual(expected)
  })

  it('lists every bad option', () => {
    expect(() =>
      createSqliteStore({ path: '', synchronous: 'sometimes', busyTimeoutMs: -1 } as never),
    ).toThrow(ConfigError)
    expect(() => createSqliteStore({ path: '', synchronous: 'sometimes', busyTimeoutMs: -1 } as never))
      .toThrowErrorMatchingInlineSnapshot(`
      [ConfigError: Invalid SQLite store options
        - path: must be a file path or ":memory:" (Received: "")
        - synchronous: must be "normal" or "full" (Received: "sometimes")
        - busyTimeoutMs: must be an integer >= 0 (Received: -1)]
    `)
  })

  it('refuses a second store on a file in use, and opens it once the first is closed', async () => {
    const path = freshFile()
    const first = createSqliteStore({ path })
    await first.accept([workflow('a')], T0)
    expect(() => createSqliteStore({ path })).toThrow(
      /is in use by another process .*: one process per database file/,
    )
    await first.close()
    const second = createSqliteStore({ path })
    expect(await second.counts()).toMatchObject({ pending: 1 })
    await second.close()
  })

  it('commits writes issued together, each with its own outcome, before the promises resolve', async () => {
    const path = freshFile()
    const store = createSqliteStore({ path })
    await store.accept([workflow('a'), workflow('b'), workflow('c')], T0)
    await store.claim({ now: T0, limit: 3, leaseMs: 1000, owner: 'e1' })
    const [a, b, c] = ['a', 'b', 'c'].map((m) => deriveItemId({ messageId: m, mappingId: 'm1' })) as [
      string,
      string,
      string,
    ]
    const outcomes = await Promise.all([
      store.markDelivered(a, 'e1', T0 + 1, { status: 200 }),
      store.markDelivered(b, 'someone-else', T0 + 1),
      store.scheduleRetry(c, 'e1', {
        now: T0 + 1,
        nextAttemptAt: T0 + 500,
        attempts: 1,
        error: { code: 'TIMEOUT', message: 'slow', at: T0 + 1 },
      }),
      store.putContacts([{ key: 'k', contactId: 'CID_1', expiresAt: T0 + 10_000 }]),
      store.accept([workflow('a'), workflow('d')], T0 + 1),
    ])
    expect(outcomes.slice(0, 4)).toEqual([true, false, true, undefined])
    expect(outcomes[4]?.map((r) => r.status)).toEqual(['duplicate', 'accepted'])
    // The files hold all of it: it was committed, not only applied in this connection.
    const copy = `${path}.copy`
    copyFileSync(path, copy)
    copyFileSync(`${path}-wal`, `${copy}-wal`)
    const other = createSqliteStore({ path: copy })
    expect(await other.counts()).toEqual({ pending: 2, leased: 1, delivered: 1, dead: 0 })
    expect(await other.getContact('k', T0)).toBe('CID_1')
    await other.close()
    await store.close()
  })

  it('applies operations in the order they were called, even when the writes are not awaited', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    const written = store.putContacts([{ key: 'k', contactId: 'CID_1', expiresAt: T0 + 10_000 }])
    const accepted = store.accept([workflow('a')], T0)
    expect(await store.getContact('k', T0)).toBe('CID_1')
    expect(await store.claim({ now: T0, limit: 5, leaseMs: 1000, owner: 'e1' })).toHaveLength(1)
    await Promise.all([written, accepted])
    await store.close()
  })

  it('fails only the write that failed among writes issued together', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    const bad = { key: 'bad', contactId: null, expiresAt: T0 } as unknown as ContactCacheEntry
    const [good, failed, accepted] = await Promise.allSettled([
      store.putContacts([{ key: 'k', contactId: 'CID_1', expiresAt: T0 + 10_000 }]),
      store.putContacts([bad]),
      store.accept([workflow('a')], T0),
    ])
    expect(good.status).toBe('fulfilled')
    expect(accepted.status).toBe('fulfilled')
    expect(failed.status === 'rejected' && failed.reason).toBeInstanceOf(StoreError)
    expect(await store.getContact('k', T0)).toBe('CID_1')
    expect(await store.getContact('bad', T0)).toBeUndefined()
    expect(await store.counts()).toMatchObject({ pending: 1 })
    await store.close()
  })

  it('commits writes still gathered when it is closed', async () => {
    const path = freshFile()
    const store = createSqliteStore({ path })
    const accepted = store.accept([workflow('a')], T0)
    await store.close()
    expect((await accepted).map((r) => r.status)).toEqual(['accepted'])
    await expect(store.putContacts([])).rejects.toBeInstanceOf(StoreError)
    const reopened = createSqliteStore({ path })
    expect(await reopened.counts()).toMatchObject({ pending: 1 })
    await reopened.close()
  })
})

const SCRIPT = fileURLToPath(new URL('./store-process.ts', import.meta.url))

/** Starts store-process.ts on `path`; resolves with the child and its first line of output. */
function storeProcess(
  path: string,
  items = 0,
): Promise<{ child: ChildProcess; line: string; exit: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    env: { ...process.env, STORE_PATH: path, ITEMS: String(items) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const end = out.indexOf('\n')
      if (end >= 0) resolve({ child, line: out.slice(0, end), exit })
    })
    child.once('error', reject)
  })
}

describe('one process per database file', () => {
  it('refuses a second process on a file in use with a clear message, and lets it in once the first is SIGKILLed', async () => {
    const path = freshFile()
    const first = await storeProcess(path)
    expect(first.line).toBe('open')
    const second = await storeProcess(path)
    expect(second.line).toMatch(/is in use by another process .*: one process per database file/)
    expect(await second.exit).toBe(2)
    // This process too.
    expect(() => createSqliteStore({ path })).toThrow(/is in use by another process/)

    first.child.kill('SIGKILL')
    await first.exit
    const third = await storeProcess(path)
    expect(third.line).toBe('open')
    third.child.kill('SIGKILL')
    await third.exit
  })
})

describe('damage found at open', () => {
  /** A store killed with `items` items committed one by one: the files a SIGKILL leaves behind. */
  async function killedWith(items: number): Promise<string> {
    const path = freshFile()
    const p = await storeProcess(path, items)
    expect(p.line).toBe('open')
    p.child.kill('SIGKILL')
    await p.exit
    return path
  }

  it('refuses to start on a WAL with a flipped byte, says how many commits SQLite would drop, keeps a copy, and starts again with the readable part', async () => {
    const path = await killedWith(200)
    const wal = readFileSync(`${path}-wal`)
    const frameBytes = 24 + wal.readUInt32BE(8)
    const frames = (wal.length - 32) / frameBytes
    // One byte in the page data of a frame a quarter into the log.
    const at = 32 + Math.floor(frames / 4) * frameBytes + 24 + 100
    wal[at] = wal[at]! ^ 0xff
    writeFileSync(`${path}-wal`, wal)

    let message = ''
    try {
      createSqliteStore({ path })
    } catch (error) {
      message = (error as Error).message
    }
    expect(message).toMatch(
      /^The SQLite write-ahead log .* is damaged: frame \d+ of \d+ fails its checksum, so SQLite would silently drop \d+ frames holding \d+ committed transactions \(accepted items among them are lost\)\. A copy of the log is kept at /,
    )
    const lostCommits = Number(/holding (\d+) committed/.exec(message)?.[1])
    expect(lostCommits).toBeGreaterThan(100)
    const copies = readdirSync(dir).filter((f) => f.startsWith(`${path.split('/').pop()}-wal.damaged-`))
    expect(copies).toHaveLength(1)
    expect(statSync(join(dir, copies[0]!)).size).toBe(wal.length)

    // Said once: the next start goes on with what SQLite could read.
    const store = createSqliteStore({ path })
    const { pending } = await store.counts()
    expect(pending + lostCommits).toBe(200)
    await store.close()
  })

  it('starts without a word after a clean SIGKILL (no damage to report)', async () => {
    const path = await killedWith(50)
    expect(existsSync(`${path}-wal`)).toBe(true)
    const store = createSqliteStore({ path })
    expect(await store.counts()).toMatchObject({ pending: 50 })
    await store.close()
  })

  it('refuses to start on a database that fails quick_check', async () => {
    const path = freshFile()
    const store = createSqliteStore({ path })
    await store.accept(
      Array.from({ length: 300 }, (_, i) => workflow(`q${i}`)),
      T0,
    )
    await store.close()
    // Point an index page's cells past the end of the page: its b-tree is broken, the rows are not.
    const db = new Database(path)
    const page = (
      db.prepare(`SELECT rootpage FROM sqlite_master WHERE name = 'items_state_updated'`).get() as {
        rootpage: number
      }
    ).rootpage
    const pageSize = db.pragma('page_size', { simple: true }) as number
    db.close()
    const bytes = readFileSync(path)
    for (let i = 0; i < 16; i++) bytes[(page - 1) * pageSize + 12 + i] = 0xff
    writeFileSync(path, bytes)
    expect(() => createSqliteStore({ path })).toThrow(
      /fails its integrity check \(PRAGMA quick_check\): .*Restore it from a backup/,
    )
  })
})
