// An item's lookupBy against the sandbox: with ['extRef'] (what the proxy sets under signed identities)
// an e-mail or phone in the payload never leads to another person's contact — not through a search, not
// through the contact-id cache, and not through the directory's merge rules — while the default keeps
// finding contacts by e-mail.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandbox, type MergeRule, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { DeliveryItem } from '../../src/actions/payloads'
import { createVirtualClock, type VirtualClock } from '../../src/server/delivery/clock'
import { createDeliveryEngine, type DeliveryEngine } from '../../src/server/delivery/engine'
import { createQualtricsClient } from '../../src/server/qualtrics'
import { createMemoryStore } from '../../src/server/store/memory-store'
import type { DeliveryStore } from '../../src/server/store/types'
import { createSqliteStore } from '../../src/sqlite/index'
import { settle } from './helpers'

let sb: RunningSandbox
let clock: VirtualClock
const tmp = mkdtempSync(join(tmpdir(), 'qr-lookup-by-'))

beforeAll(async () => {
  clock = createVirtualClock()
  sb = await startSandbox({ port: 0, randomSeed: 7, clock: () => clock.now() })
})
afterAll(async () => {
  await sb.close()
  rmSync(tmp, { recursive: true, force: true })
})
beforeEach(() => {
  clock = createVirtualClock()
  sb.reset()
})

const ALICE = { extRef: 'alice', email: 'alice@example.com', phone: '+1 555 0100', firstName: 'Alice' }

/** A directory with the given merge rules, one mailing list and Alice's contact. */
function seedDirectory(mergeRules: MergeRule[]) {
  const seeded = sb.seed({
    directories: [
      {
        name: `rules ${JSON.stringify(mergeRules)}`,
        mergeRules,
        mailingLists: [{ name: 'Purchases' }],
        contacts: [{ ...ALICE, embeddedData: { plan: 'gold' } }],
      },
    ],
  })
  return {
    directoryId: seeded.directoryIds[0]!,
    mailingListId: seeded.mailingListIds[0]!,
    aliceId: seeded.contactIds[0]!,
  }
}

type Directory = ReturnType<typeof seedDirectory>

const makeClient = () =>
  createQualtricsClient({ apiToken: sb.token, baseUrl: sb.url, now: () => clock.now() })

function setup(store: DeliveryStore = createMemoryStore()) {
  const engine = createDeliveryEngine({ client: makeClient(), store, clock, random: () => 0.5 })
  return { engine, store, run: () => settle(engine, store, clock) }
}

let seq = 0
function tx(
  dir: Directory,
  payload: Record<string, unknown>,
  lookupBy?: DeliveryItem['lookupBy'],
): DeliveryItem {
  return {
    messageId: `evt-${++seq}`,
    mappingId: 'purchase',
    action: 'upsertContactTransaction',
    payload: {
      directoryId: dir.directoryId,
      mailingListId: dir.mailingListId,
      transactionDate: '2024-05-01 12:00:00',
      transactionData: { orderId: `o-${seq}` },
      ...payload,
    },
    ...(lookupBy === undefined ? {} : { lookupBy }),
  } as DeliveryItem
}

function identify(
  dir: Directory,
  payload: Record<string, unknown>,
  lookupBy?: DeliveryItem['lookupBy'],
): DeliveryItem {
  return {
    messageId: `evt-${++seq}`,
    mappingId: 'contact',
    action: 'addContactToXmd',
    payload: { directoryId: dir.directoryId, ...payload },
    ...(lookupBy === undefined ? {} : { lookupBy }),
  } as DeliveryItem
}

async function stateOf(engine: DeliveryEngine, item: DeliveryItem) {
  const [status] = await engine.status(item.messageId)
  return status
}

const contactById = (id: string) => sb.inspect().contacts.find((c) => c.id === id)
const contactByExtRef = (extRef: string) => sb.inspect().contacts.filter((c) => c.extRef === extRef)
const transactionsOf = (contactId: string) =>
  sb.inspect().transactions.filter((t) => t.contactId === contactId)

/** Alice's contact exactly as seeded: nothing merged into it, no transaction on it. */
function expectAliceUntouched(dir: Directory) {
  expect(contactById(dir.aliceId)).toMatchObject({
    ...ALICE,
    embeddedData: { plan: 'gold' },
    mergeCount: 0,
  })
  expect(transactionsOf(dir.aliceId)).toEqual([])
}

const MERGE_RULES: [string, MergeRule[]][] = [
  ['merges on extRef, then e-mail', [['extRef'], ['email']]],
  ['merges on e-mail, then phone', [['email'], ['phone']]],
  ['merges on extRef only', [['extRef']]],
  ['has no merge rules', []],
]

describe("lookupBy ['extRef']", () => {
  it.each(MERGE_RULES)(
    'a transaction carrying another person’s e-mail and phone gets a contact of its own (directory %s)',
    async (_name, rules) => {
      const dir = seedDirectory(rules)
      const { engine, run } = setup()
      const item = tx(
        dir,
        { extRef: 'mallory', email: ALICE.email.toUpperCase(), phone: ALICE.phone, firstName: 'Mallory' },
        ['extRef'],
      )
      await engine.enqueue([item])
      await run()

      const [mallory, ...others] = contactByExtRef('mallory')
      expect(others).toEqual([])
      expect(mallory!.id).not.toBe(dir.aliceId)
      // Alice's e-mail and phone are not copied onto the new contact: sent, they could have merged it
      // into Alice's (or made later look-ups by them ambiguous).
      expect(mallory).toMatchObject({ firstName: 'Mallory', mergeCount: 0 })
      expect(mallory).not.toHaveProperty('email')
      expect(mallory).not.toHaveProperty('phone')
      expect(await stateOf(engine, item)).toMatchObject({
        state: 'delivered',
        result: { contactId: mallory!.id },
      })
      expect(transactionsOf(mallory!.id)).toHaveLength(1)
      expectAliceUntouched(dir)
    },
  )

  it('writes an e-mail nobody else holds on the contact it creates', async () => {
    const dir = seedDirectory([['extRef'], ['email']])
    const { engine, run } = setup()
    const item = tx(dir, { extRef: 'mallory', email: 'mallory@example.com' }, ['extRef'])
    await engine.enqueue([item])
    await run()
    const [mallory] = contactByExtRef('mallory')
    expect(mallory).toMatchObject({ email: 'mallory@example.com' })
    expect(transactionsOf(mallory!.id)).toHaveLength(1)
    expectAliceUntouched(dir)
  })

  it('still finds its own contact by extRef, whatever e-mail it carries', async () => {
    const dir = seedDirectory([['extRef'], ['email']])
    const { engine, run } = setup()
    const item = tx(dir, { extRef: 'alice', email: 'someone.else@example.com' }, ['extRef'])
    await engine.enqueue([item])
    await run()
    expect(await stateOf(engine, item)).toMatchObject({ result: { contactId: dir.aliceId } })
    expect(sb.inspect().contacts).toHaveLength(1)
  })

  it('neither reads nor overwrites the cached contact id of another person’s e-mail', async () => {
    const dir = seedDirectory([['extRef']])
    const { engine, run } = setup()
    // A trusted item (default lookup) finds Alice by e-mail and caches her id under her e-mail.
    const trusted = tx(dir, { email: ALICE.email })
    await engine.enqueue([trusted])
    await run()
    expect(await stateOf(engine, trusted)).toMatchObject({ result: { contactId: dir.aliceId } })

    const signed = tx(dir, { extRef: 'mallory', email: ALICE.email }, ['extRef'])
    await engine.enqueue([signed])
    await run()
    const [mallory] = contactByExtRef('mallory')
    expect(await stateOf(engine, signed)).toMatchObject({ result: { contactId: mallory!.id } })

    // Alice's e-mail still leads to Alice, and Mallory's extRef to Mallory.
    const again = tx(dir, { email: ALICE.email })
    const later = tx(dir, { extRef: 'mallory' }, ['extRef'])
    await engine.enqueue([again, later])
    await run()
    expect(await stateOf(engine, again)).toMatchObject({ result: { contactId: dir.aliceId } })
    expect(await stateOf(engine, later)).toMatchObject({ result: { contactId: mallory!.id } })
    expect(transactionsOf(dir.aliceId)).toHaveLength(2)
    expect(transactionsOf(mallory!.id)).toHaveLength(2)
  })

  it.each(MERGE_RULES)(
    'an identify carrying another person’s e-mail does not merge into that contact (directory %s)',
    async (_name, rules) => {
      const dir = seedDirectory(rules)
      const { engine, run } = setup()
      const item = identify(
        dir,
        { extRef: 'mallory', email: ALICE.email, firstName: 'Mallory', embeddedData: { plan: 'free' } },
        ['extRef'],
      )
      await engine.enqueue([item])
      await run()
      const [mallory] = contactByExtRef('mallory')
      expect(mallory).toMatchObject({ firstName: 'Mallory', embeddedData: { plan: 'free' } })
      expect(mallory).not.toHaveProperty('email')
      expect(await stateOf(engine, item)).toMatchObject({ result: { contactId: mallory!.id } })
      expectAliceUntouched(dir)
    },
  )

  it('an identify keeps updating its own contact, e-mail included', async () => {
    const dir = seedDirectory([['extRef'], ['email']])
    const { engine, run } = setup()
    await engine.enqueue([identify(dir, { extRef: 'alice', email: 'alice@new.example' }, ['extRef'])])
    await run()
    expect(contactById(dir.aliceId)).toMatchObject({ email: 'alice@new.example', mergeCount: 1 })
    expect(sb.inspect().contacts).toHaveLength(1)
  })

  it('dead-letters a transaction that has nothing it may be looked up by', async () => {
    const dir = seedDirectory([['extRef'], ['email']])
    const { engine, run } = setup()
    const item = tx(dir, { email: ALICE.email }, ['extRef'])
    await engine.enqueue([item])
    await run()
    const status = await stateOf(engine, item)
    expect(status).toMatchObject({ state: 'dead', lastError: { code: 'CONTACT_NOT_FOUND', status: 400 } })
    expect(status!.lastError!.message).toBe(
      `Cannot find or create the contact of a transaction in directory ${dir.directoryId}: it has no contactId, extRef (lookupBy)`,
    )
    expectAliceUntouched(dir)
  })

  it('is kept by the SQLite store: an engine started later on the same file honours it', async () => {
    const dir = seedDirectory([['extRef'], ['email']])
    const path = join(tmp, 'lookup-by.db')
    const before = createSqliteStore({ path })
    const item = tx(dir, { extRef: 'mallory', email: ALICE.email }, ['extRef'])
    await createDeliveryEngine({ client: makeClient(), store: before, clock }).enqueue([item])
    await before.close()

    const after = createSqliteStore({ path })
    const { engine, run } = setup(after)
    await run()
    const [mallory] = contactByExtRef('mallory')
    expect(await stateOf(engine, item)).toMatchObject({ result: { contactId: mallory!.id } })
    expectAliceUntouched(dir)
    await after.close()
  })
})

describe('default lookup (every identifier)', () => {
  it('finds the existing contact by e-mail when no contact has the extRef', async () => {
    const dir = seedDirectory([['extRef'], ['email']])
    const { engine, run } = setup()
    const item = tx(dir, { extRef: 'alice-2', email: ALICE.email })
    await engine.enqueue([item])
    await run()
    expect(await stateOf(engine, item)).toMatchObject({
      state: 'delivered',
      result: { contactId: dir.aliceId },
    })
    expect(transactionsOf(dir.aliceId)).toHaveLength(1)
    expect(sb.inspect().contacts).toHaveLength(1)
  })

  it('finds it by phone too', async () => {
    const dir = seedDirectory([])
    const { engine, run } = setup()
    const item = tx(dir, { phone: ALICE.phone })
    await engine.enqueue([item])
    await run()
    expect(await stateOf(engine, item)).toMatchObject({ result: { contactId: dir.aliceId } })
  })
})
