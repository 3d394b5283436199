// When the machine fails rather than the request: database files deleted under the running proxy, and
// resource failures (file descriptors, memory, disk, a busy or failing database) however a library wraps
// them. Each must be answered 503 (retryable, so plugins keep their items), never 4xx, and never 202 for
// items that only look stored.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { StoreError } from '@qualtrics-relay/core/server'
import { afterEach, describe, expect, it } from 'vitest'
import { toAnswer } from '../src/middleware/error-handler'
import { resourceFailureOf } from '../src/resource-failure'
import { contactItem, postBatch, request, startHarness, tempDir, type Harness } from './helpers'

let harness: Harness | undefined
let dir: ReturnType<typeof tempDir> | undefined
afterEach(async () => {
  await harness?.close()
  dir?.remove()
  harness = undefined
  dir = undefined
})

describe('database files deleted under a running proxy', () => {
  it('turns not ready and refuses batches with 503 instead of answering 202 into a deleted file', async () => {
    dir = tempDir()
    const path = join(dir.path, 'relay.db')
    harness = await startHarness({ storagePath: path })
    const h = harness
    expect((await postBatch(h.url, { writeKey: 'wk_test', items: [contactItem(h.sandbox)] })).status).toBe(
      202,
    )
    expect((await request(`${h.url}/readyz`)).status).toBe(200)

    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true })

    const ready = await request(`${h.url}/readyz`)
    expect(ready.status).toBe(503)
    expect(ready.json).toMatchObject({
      status: 'not ready',
      checks: { storage: { ok: false, code: 'STORAGE_ERROR' } },
    })
    expect(JSON.stringify(ready.json)).toContain('relay.db was deleted')
    expect(JSON.stringify(ready.json)).not.toContain(dir.path)

    const batch = await postBatch(h.url, { writeKey: 'wk_test', items: [contactItem(h.sandbox)] })
    expect(batch.status).toBe(503)
    expect(batch.headers.get('retry-after')).toBe('30')
    expect(batch.json).toMatchObject({ error: { code: 'STORAGE_ERROR' } })
  })
})

/** What body-parser makes of a failure to read a body: the same error, marked 400 and "exposed". */
function asBodyParserDoes(error: Error): Error {
  return Object.assign(error, { status: 400, statusCode: 400, expose: true })
}

function systemError(code: string): Error {
  return Object.assign(new Error(`${code}: failed, open '/x/encodings/index.js'`), { code, errno: -24 })
}

/** better-sqlite3's SqliteError carries the SQLite result code as `code`. */
function sqliteError(code: string): Error {
  return Object.assign(new Error(`database failed (${code})`), { name: 'SqliteError', code })
}

describe('resource failures are 503, never 4xx', () => {
  it.each([
    [
      'out of file descriptors while reading a body',
      asBodyParserDoes(systemError('EMFILE')),
      'RESOURCE_EXHAUSTED',
    ],
    ['the system file table full', asBodyParserDoes(systemError('ENFILE')), 'RESOURCE_EXHAUSTED'],
    ['out of memory', systemError('ENOMEM'), 'RESOURCE_EXHAUSTED'],
    [
      'EMFILE behind raw-body, as its 415',
      Object.assign(new Error('specified encoding unsupported'), {
        status: 415,
        type: 'encoding.unsupported',
        cause: systemError('EMFILE'),
      }),
      'RESOURCE_EXHAUSTED',
    ],
    ['a full disk', asBodyParserDoes(systemError('ENOSPC')), 'STORAGE_ERROR'],
    [
      'SQLite: disk full',
      new StoreError('SQLite store could not accept', { cause: sqliteError('SQLITE_FULL') }),
      'STORAGE_ERROR',
    ],
    ['SQLite: I/O error', sqliteError('SQLITE_IOERR_WRITE'), 'STORAGE_ERROR'],
    ['SQLite: busy', sqliteError('SQLITE_BUSY'), 'STORAGE_ERROR'],
    ['SQLite: locked', sqliteError('SQLITE_LOCKED_SHAREDCACHE'), 'STORAGE_ERROR'],
  ])('%s', (_what, error, code) => {
    const answer = toAnswer(error, 100_000)
    expect(answer).toMatchObject({ status: 503, code, headers: { 'Retry-After': '5' } })
  })

  it('leaves the request’s own faults alone', () => {
    const parse = Object.assign(new SyntaxError('Unexpected token'), {
      status: 400,
      type: 'entity.parse.failed',
      expose: true,
    })
    expect(toAnswer(parse, 100_000)).toMatchObject({ status: 400, code: 'MALFORMED_JSON' })
    expect(resourceFailureOf(new Error('plain'))).toBeUndefined()
    expect(resourceFailureOf(sqliteError('SQLITE_CONSTRAINT_UNIQUE'))).toBeUndefined()
  })
})
