// The live check against the sandbox: strict by default (Qualtrics' published definition refuses `or`),
// lenient when asked (it honours `or`), so both outcomes of the `or` probe are covered.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  createQualtricsClient,
  liveCheckAccount,
  liveCheckRecordOf,
  orLookupsVerified,
  readLiveCheckRecord,
  runLiveCheck,
  writeLiveCheckRecord,
} from '../../src/server/index'

let sb: RunningSandbox
const dir = mkdtempSync(join(tmpdir(), 'qr-live-check-'))

beforeAll(async () => {
  sb = await startSandbox({ port: 0, randomSeed: 3 })
})
afterAll(async () => {
  await sb.close()
  rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => {
  sb.reset({
    directories: [
      {
        id: 'POOL_live000000000',
        name: 'Main',
        mailingLists: [{ id: 'CG_live0000000000', name: 'Buyers' }],
        contacts: [{ extRef: 'ann', email: 'ann@example.com' }, { extRef: 'bob' }, { extRef: 'cy' }],
      },
    ],
  })
})

const client = () => createQualtricsClient({ apiToken: sb.token, baseUrl: sb.url })
const lines = (report: Awaited<ReturnType<typeof runLiveCheck>>) =>
  report.results.map((r) => `${r.ok ? 'ok  ' : 'FAIL'} ${r.check}: ${r.detail}`)
const configured = { directoryIds: ['POOL_live000000000'], mailingListIds: ['CG_live0000000000'] }

describe('runLiveCheck', () => {
  it('passes read-only against the published definition, and finds `or` look-ups not honoured', async () => {
    const before = sb.inspect()
    const report = await runLiveCheck({ client: client(), ...configured })
    expect(report.ok).toBe(true)
    expect(report.orLookups).toBe('not-honoured')
    expect(lines(report)).toEqual([
      'ok   whoami: sandbox.user@example.com#sandbox (' + before.users[0]!.userId + '), brand sandbox',
      'ok   directory POOL_live000000000: found: Main',
      'ok   mailing list CG_live0000000000: found in POOL_live000000000: Buyers',
      'ok   search: a documented leaf filter (extRef eq) answered 0 contact(s) in POOL_live000000000',
      expect.stringMatching(
        /^ok {3}or lookups: not honoured: an "or" of two extRef filters was refused \(QUALTRICS_API_ERROR 400: .*\); batched look-ups stay off$/,
      ),
    ])
    // read-only: nothing written
    const after = sb.inspect()
    expect(after.contacts).toEqual(before.contacts)
    expect(after.transactions).toEqual([])
    expect(after.requests.every((r) => r.method === 'GET' || r.route === 'searchContacts')).toBe(true)
  })

  it('finds `or` look-ups honoured where the brand answers them (the lenient sandbox)', async () => {
    sb.setBehaviour({ dialect: 'lenient' })
    const report = await runLiveCheck({ client: client(), ...configured })
    expect(report.orLookups).toBe('honoured')
    expect(lines(report)[4]).toBe(
      'ok   or lookups: honoured: an "or" of two extRef filters found both contacts (2 in all); batched look-ups may be used',
    )
  })

  it('leaves `or` untested in a directory without two contacts to probe with', async () => {
    sb.reset({ directories: [{ id: 'POOL_live000000000', name: 'Main', contacts: [{ extRef: 'only' }] }] })
    const report = await runLiveCheck({
      client: client(),
      directoryIds: ['POOL_live000000000'],
      mailingListIds: [],
    })
    expect(report.ok).toBe(true)
    expect(report.orLookups).toBe('untested')
  })

  it('fails, naming them, for a directory and a mailing list the brand does not have', async () => {
    const report = await runLiveCheck({
      client: client(),
      directoryIds: ['POOL_live000000000', 'POOL_missing0000000'],
      mailingListIds: ['CG_missing00000000'],
    })
    expect(report.ok).toBe(false)
    expect(lines(report).filter((l) => l.startsWith('FAIL'))).toEqual([
      'FAIL directory POOL_missing0000000: not found among the brand’s directories',
      'FAIL mailing list CG_missing00000000: not found in POOL_live000000000, POOL_missing0000000',
    ])
  })

  it('fails at whoami with a token the brand does not know, and checks nothing else', async () => {
    const report = await runLiveCheck({
      client: createQualtricsClient({ apiToken: 'not-a-token', baseUrl: sb.url }),
      ...configured,
    })
    expect(report.ok).toBe(false)
    expect(report.results.map((r) => r.check)).toEqual(['whoami'])
    expect(report.results[0]!.detail).toMatch(/^QUALTRICS_API_ERROR 401: /)
  })

  it('with a write test, creates a marked contact and transaction and reads both back', async () => {
    const at = Date.UTC(2026, 11, 3, 10, 0, 0)
    const report = await runLiveCheck({
      client: client(),
      ...configured,
      writeTest: { directoryId: 'POOL_live000000000' },
      now: () => at,
    })
    expect(report.ok).toBe(true)
    expect(lines(report).slice(-2)).toEqual([
      expect.stringMatching(
        /^ok {3}write test: contact: created test contact CID_\w+ \(extRef qualtrics-relay-live-check-1796292000000\) in POOL_live000000000 and read it back$/,
      ),
      expect.stringMatching(
        /^ok {3}write test: transaction: created test transaction CTR_\w+ and read it back$/,
      ),
    ])
    const { contacts, transactions } = sb.inspect()
    const marked = contacts.find((c) => c.extRef === `qualtrics-relay-live-check-${at}`)!
    expect(marked).toMatchObject({ firstName: 'qualtrics-relay-live-check' })
    expect(transactions).toMatchObject([
      { contactId: marked.id, mailingListId: 'CG_live0000000000', transactionDate: '2026-12-03 10:00:00' },
    ])
  })
})

describe('the live-check record', () => {
  const account = () => liveCheckAccount({ apiToken: sb.token, baseUrl: sb.url })

  it('enables `or` look-ups only for the account it was made for, when they were honoured', async () => {
    sb.setBehaviour({ dialect: 'lenient' })
    const path = join(dir, 'nested', 'record.json')
    const report = await runLiveCheck({ client: client(), ...configured })
    writeLiveCheckRecord(path, liveCheckRecordOf(report, account(), Date.UTC(2026, 11, 3)))
    const record = readLiveCheckRecord(path)
    expect(record).toEqual({
      format: 'qualtrics-relay-live-check',
      version: 1,
      checkedAt: '2026-12-03T00:00:00.000Z',
      apiBase: sb.url,
      tokenFingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
      brandId: 'sandbox',
      orLookups: 'honoured',
    })
    expect(JSON.stringify(record)).not.toContain(sb.token)
    expect(orLookupsVerified(record, account())).toBe(true)
    expect(orLookupsVerified(record, liveCheckAccount({ apiToken: 'another-token', baseUrl: sb.url }))).toBe(
      false,
    )
    expect(orLookupsVerified(record, liveCheckAccount({ apiToken: sb.token, datacenter: 'iad1' }))).toBe(
      false,
    )
    expect(orLookupsVerified({ ...record!, orLookups: 'not-honoured' }, account())).toBe(false)
    expect(orLookupsVerified(undefined, account())).toBe(false)
  })

  it('reads a missing file as no record, and refuses a file that is not one', () => {
    expect(readLiveCheckRecord(join(dir, 'absent.json'))).toBeUndefined()
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, '{"orLookups":"honoured"}')
    expect(() => readLiveCheckRecord(bad)).toThrow(/is not a live-check record written by "check --live"/)
  })
})
