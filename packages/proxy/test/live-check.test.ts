// `check --live` against the sandbox (strict by default, lenient when it should honour `or`), the record
// it leaves, and start-up turning batched look-ups on from that record only.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { main, type CliIo } from '../src/cli'
import { postBatch, purchaseItem, startHarness, waitFor, type Harness } from './helpers'

let sb: RunningSandbox
let dir: string
let harness: Harness | undefined

beforeAll(async () => {
  sb = await startSandbox({ port: 0, randomSeed: 5 })
})
afterAll(async () => {
  await sb.close()
})
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'qr-proxy-live-'))
  sb.reset({
    directories: [
      {
        id: 'POOL_live000000000',
        name: 'Main',
        mergeRules: [['extRef']],
        mailingLists: [{ id: 'CG_live0000000000', name: 'Buyers' }],
        contacts: [{ extRef: 'ann' }, { extRef: 'bob' }],
      },
    ],
  })
})
afterEach(async () => {
  await harness?.close()
  harness = undefined
  rmSync(dir, { recursive: true, force: true })
})

function captureIo(env: Record<string, string>): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []
  const stderr: string[] = []
  return { stdout, stderr, out: (l) => void stdout.push(l), err: (l) => void stderr.push(l), env }
}

const writeKeys = (mailingListId = 'CG_live0000000000') => ({
  wk_test: {
    origins: ['https://shop.example'],
    mappings: [
      {
        id: 'purchase',
        action: 'upsertContactTransaction',
        fields: { directoryId: 'POOL_live000000000', mailingListId },
      },
    ],
  },
})

/** Purchases of the two seeded users (extRef only), through the proxy's batch route. */
const twoPurchases = () => ({
  writeKey: 'wk_test',
  items: ['ann', 'bob'].map((extRef) =>
    purchaseItem(sb, undefined, {
      directoryId: 'POOL_live000000000',
      mailingListId: 'CG_live0000000000',
      extRef,
      email: undefined,
    }),
  ),
})

/** A config file in `dir` (the record goes beside it, by default) and the CLI's environment. */
function setupCli(mailingListId?: string, env: Record<string, string> = {}) {
  const configPath = join(dir, 'relay.json')
  writeFileSync(
    configPath,
    JSON.stringify({ storage: { path: ':memory:' }, writeKeys: writeKeys(mailingListId) }),
  )
  return {
    configPath,
    recordPath: join(dir, 'qualtrics-relay.live-check.json'),
    io: captureIo({ QUALTRICS_API_TOKEN: sb.token, QUALTRICS_BASE_URL: sb.url, ...env }),
  }
}

describe('qualtrics-relay-proxy check --live', () => {
  it('against the published definition: a line per result, `or` not honoured, recorded off, exit 0', async () => {
    const { configPath, recordPath, io } = setupCli()
    expect(await main(['check', '--live', '--config', configPath], io)).toBe(0)
    expect(io.stdout).toEqual([
      `mode: qualtrics (${sb.url})`,
      expect.stringMatching(/^ok {3}whoami: .*, brand sandbox$/),
      'ok   directory POOL_live000000000: found: Main',
      'ok   mailing list CG_live0000000000: found in POOL_live000000000: Buyers',
      'ok   search: a documented leaf filter (extRef eq) answered 0 contact(s) in POOL_live000000000',
      expect.stringMatching(/^ok {3}or lookups: not honoured: an "or" of two extRef filters was refused/),
      `recorded in ${recordPath}: batched look-ups off from the next start`,
      'live check passed',
    ])
    expect(JSON.parse(readFileSync(recordPath, 'utf8'))).toMatchObject({ orLookups: 'not-honoured' })
    expect(readFileSync(recordPath, 'utf8')).not.toContain(sb.token)
    expect(sb.inspect().contacts).toHaveLength(2)
  })

  it('where `or` is honoured (the lenient sandbox), records it, and the proxy then batches look-ups', async () => {
    sb.setBehaviour({ dialect: 'lenient' })
    const { configPath, recordPath, io } = setupCli()
    expect(await main(['check', '--live', '--config', configPath], io)).toBe(0)
    expect(io.stdout).toContain(`recorded in ${recordPath}: batched look-ups on from the next start`)

    harness = await startHarness({
      sandbox: sb,
      writeKeys: () => writeKeys(),
      config: { liveCheck: { recordPath } },
    })
    const before = sb.inspect().requests.length
    await postBatch(harness.url, twoPurchases())
    await waitFor(() => (sb.inspect().transactions.length === 2 ? true : undefined))
    const searches = sb
      .inspect()
      .requests.slice(before)
      .filter((r) => r.route === 'searchContacts')
    expect(searches).toHaveLength(1)
  })

  it('without a record that verified `or`, the proxy looks users up one leaf search each', async () => {
    harness = await startHarness({
      sandbox: sb,
      writeKeys: () => writeKeys(),
      config: { liveCheck: { recordPath: join(dir, 'none.json') } },
    })
    const before = sb.inspect().requests.length
    await postBatch(harness.url, twoPurchases())
    await waitFor(() => (sb.inspect().transactions.length === 2 ? true : undefined))
    const searches = sb
      .inspect()
      .requests.slice(before)
      .filter((r) => r.route === 'searchContacts')
    expect(searches.map((r) => r.status)).toEqual([200, 200])
  })

  it('with --write-test, creates a marked contact and transaction and reads them back', async () => {
    const { configPath, io } = setupCli()
    expect(
      await main(['check', '--live', '--write-test', 'POOL_live000000000', '--config', configPath], io),
    ).toBe(0)
    expect(io.stdout.filter((l) => l.includes('write test'))).toEqual([
      expect.stringMatching(
        /^ok {3}write test: contact: created test contact CID_\w+ \(extRef qualtrics-relay-live-check-\d+\)/,
      ),
      expect.stringMatching(
        /^ok {3}write test: transaction: created test transaction CTR_\w+ and read it back$/,
      ),
    ])
    expect(sb.inspect().transactions).toHaveLength(1)
  })

  it('fails with exit 1, naming the mailing list the account does not have', async () => {
    const { configPath, io } = setupCli('CG_missing00000000')
    expect(await main(['check', '--live', '--config', configPath], io)).toBe(1)
    expect(io.stdout).toContain('FAIL mailing list CG_missing00000000: not found in POOL_live000000000')
    expect(io.stdout.at(-1)).toBe('live check FAILED')
  })

  it('refuses --write-test without --live', async () => {
    const { configPath, io } = setupCli()
    expect(await main(['check', '--write-test', 'POOL_live000000000', '--config', configPath], io)).toBe(2)
    expect(io.stderr).toEqual(['error: --write-test needs --live'])
  })
})

describe('qualtrics-relay-proxy check: datacenters', () => {
  it('warns, naming the published list, on a datacenter outside it, and still checks', async () => {
    const { configPath, io } = setupCli(undefined, { QUALTRICS_DATACENTER: 'ca1' })
    expect(await main(['check', '--config', configPath], io)).toBe(0)
    expect(io.stdout[1]).toBe(
      'warning: datacenter "ca1" is not in the list Qualtrics publishes (yul1, iad1, pdx1, fra1, lhr1, syd1, sin1, hnd1, gov1); older ids live on in brand hosts, so it is used as given: check it if calls fail',
    )
    expect(io.stdout[2]).toMatch(/^token ok: /)
  })

  it('does not warn on a published datacenter', async () => {
    const { configPath, io } = setupCli(undefined, { QUALTRICS_DATACENTER: 'fra1' })
    expect(await main(['check', '--config', configPath], io)).toBe(0)
    expect(io.stdout.some((l) => l.startsWith('warning:'))).toBe(false)
  })
})
