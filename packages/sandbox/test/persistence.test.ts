import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { STATE_FORMAT, startSandbox } from '../src/index'
import { call, dir } from './support'

const folder = mkdtempSync(join(tmpdir(), 'qualtrics-sandbox-'))
afterAll(() => rmSync(folder, { recursive: true, force: true }))

const readState = (file: string) => JSON.parse(readFileSync(file, 'utf8'))

describe('persistence to a JSON file', () => {
  it('round-trips the state through the file across restarts', async () => {
    const file = join(folder, 'round-trip.json')
    const first = await startSandbox({ persistFile: file, randomSeed: 5 })
    const contactId = (
      await call(first, 'POST', dir(first, '/contacts'), { body: { extRef: 'u1', embeddedData: { a: 1 } } })
    ).json.result.id
    await call(first, 'POST', dir(first, '/transactions'), {
      body: {
        k: {
          contactId,
          mailingListId: first.mailingListId,
          transactionDate: '2024-01-01 00:00:00',
          data: { n: 1 },
        },
      },
    })
    await call(first, 'POST', first.workflowUrl, { body: { hello: 'world' } })
    const token = first.token
    const directoryId = first.directoryId
    const before = first.inspect()
    await first.close()

    const saved = readState(file)
    expect(saved).toMatchObject({ format: STATE_FORMAT, version: 1, savedAt: expect.any(String) })
    expect(saved.state.contacts).toHaveLength(1)

    const second = await startSandbox({
      persistFile: file,
      randomSeed: 5,
      seed: { directories: [{ name: 'ignored' }] },
    })
    try {
      expect(second.token).toBe(token)
      expect(second.directoryId).toBe(directoryId)
      const after = second.inspect()
      expect(after.contacts).toEqual(before.contacts)
      expect(after.transactions).toEqual(before.transactions)
      expect(after.workflowRuns).toEqual(before.workflowRuns)
      expect(after.requests).toEqual([])
      const got = await call(second, 'GET', dir(second, `/contacts/${contactId}`))
      expect(got.json.result.embeddedData).toEqual({ a: '1' })
      const another = (await call(second, 'POST', dir(second, '/contacts'), { body: { extRef: 'u2' } })).json
        .result.id
      expect(another).not.toBe(contactId)
    } finally {
      await second.close()
    }
    expect(readState(file).state.contacts).toHaveLength(2)
  })

  it('writes the file after a change without waiting for close (debounced)', async () => {
    const file = join(folder, 'debounced.json')
    const sb = await startSandbox({ persistFile: file, persistDebounceMs: 10 })
    try {
      await expect.poll(() => existsSync(file)).toBe(true)
      await call(sb, 'POST', dir(sb, '/contacts'), { body: { extRef: 'written' } })
      await expect
        .poll(() => readState(file).state.contacts.map((c: { extRef: string }) => c.extRef))
        .toEqual(['written'])
    } finally {
      await sb.close()
    }
  })

  it('refuses to start on a file that is not sandbox state', async () => {
    const broken = join(folder, 'broken.json')
    writeFileSync(broken, '{"not": "state"')
    await expect(startSandbox({ persistFile: broken })).rejects.toThrow(
      `Cannot read the sandbox state file ${broken}: not valid JSON`,
    )
    const other = join(folder, 'other.json')
    writeFileSync(
      other,
      JSON.stringify({ format: STATE_FORMAT, state: { datacenter: 'x', brandId: 'b', users: [] } }),
    )
    await expect(startSandbox({ persistFile: other })).rejects.toThrow(
      `Cannot read the sandbox state file ${other}: state lacks datacenter, brandId, directories, contacts, mailingLists, transactions, transactionBatches, workflows, workflowRuns`,
    )
  })

  it('reports a failed write through onPersistError', async () => {
    const errors: string[] = []
    const sb = await startSandbox({
      persistFile: join(folder, 'missing-folder', 'state.json'),
      onPersistError: (e) => errors.push(e.code),
    })
    await sb.close()
    expect(errors).toContain('PERSIST_WRITE_FAILED')
  })
})
