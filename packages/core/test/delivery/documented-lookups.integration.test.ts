// Contact look-ups against the sandbox following Qualtrics' published definition: `or` searches only
// when enabled (and then only as the brand answers them), and creates without a search where the
// directory deduplicates on the one identifier an item is looked up by.

import { startSandbox, type RunningSandbox, type SeedDirectory } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { DeliveryItem } from '../../src/actions/payloads'
import { createVirtualClock, type VirtualClock } from '../../src/server/delivery/clock'
import { createDeliveryEngine } from '../../src/server/delivery/engine'
import type { DeliveryEngineConfig } from '../../src/server/delivery/options'
import { createQualtricsClient } from '../../src/server/qualtrics'
import { createMemoryStore } from '../../src/server/store/memory-store'
import { settle } from './helpers'

let sb: RunningSandbox
let clock: VirtualClock

beforeAll(async () => {
  clock = createVirtualClock()
  sb = await startSandbox({ port: 0, randomSeed: 7, clock: () => clock.now() })
})
afterAll(async () => {
  await sb.close()
})
beforeEach(() => {
  clock = createVirtualClock()
})

function seed(directory: Partial<SeedDirectory>): void {
  sb.reset({
    directories: [{ name: 'D', mailingLists: [{ name: 'L' }], mergeRules: [['extRef']], ...directory }],
  })
  sb.setBehaviour({})
}

async function run(items: DeliveryItem[], options: Partial<DeliveryEngineConfig> = {}): Promise<void> {
  const client = createQualtricsClient({ apiToken: sb.token, baseUrl: sb.url, now: () => clock.now() })
  const store = createMemoryStore()
  const engine = createDeliveryEngine({
    client,
    store,
    clock,
    random: () => 0.5,
    retryBaseMs: 500,
    ...options,
  })
  await engine.enqueue(items)
  await settle(engine, store, clock)
}

let seq = 0
function tx(payload: Record<string, unknown>): DeliveryItem {
  return {
    messageId: `evt-${++seq}`,
    mappingId: 'map-tx',
    action: 'upsertContactTransaction',
    payload: {
      directoryId: sb.directoryId,
      mailingListId: sb.mailingListId,
      language: 'EN',
      unsubscribed: false,
      transactionDate: '2024-05-01 12:00:00',
      transactionData: { n: seq },
      ...payload,
    },
  } as DeliveryItem
}

const routes = () => sb.inspect().requests.map((r) => r.route)
const refused = () => sb.inspect().requests.filter((r) => r.status >= 400)

describe('batched (`or`) look-ups', () => {
  const known = [{ extRef: 'a' }, { extRef: 'b' }, { extRef: 'c' }]

  it('are not sent by default: one leaf search per user, none refused', async () => {
    seed({ contacts: known })
    await run(known.map((c) => tx(c)))
    expect(routes().filter((r) => r === 'searchContacts')).toHaveLength(3)
    expect(refused()).toEqual([])
    expect(sb.inspect().contacts).toHaveLength(3)
  })

  it('with orLookups, a brand that honours `or` (the lenient sandbox) answers all users in one search', async () => {
    seed({ contacts: known })
    sb.setBehaviour({ dialect: 'lenient' })
    await run(
      known.map((c) => tx(c)),
      { orLookups: true },
    )
    expect(routes().filter((r) => r === 'searchContacts')).toHaveLength(1)
    expect(sb.inspect().contacts).toHaveLength(3)
    expect(sb.inspect().transactions).toHaveLength(3)
  })

  it('with orLookups, a brand that refuses `or` (the published definition) is searched one leaf at a time', async () => {
    seed({ contacts: known })
    await run(
      known.map((c) => tx(c)),
      { orLookups: true },
    )
    expect(refused().map((r) => r.route)).toEqual(['searchContacts'])
    expect(sb.inspect().contacts).toHaveLength(3)
    expect(sb.inspect().transactions).toHaveLength(3)
  })
})

describe("createWithoutSearch: 'when-deduplicated'", () => {
  const options = { createWithoutSearch: 'when-deduplicated' } as const

  it('creates without a search where the directory deduplicates on the extRef: the merge finds the existing contact, its opt-out kept', async () => {
    seed({ contacts: [{ extRef: 'known', unsubscribed: true, language: 'FR' }] })
    await run([tx({ extRef: 'KNOWN' }), tx({ extRef: 'new-1' }), tx({ extRef: 'new-2' })], options)
    expect(routes().filter((r) => r === 'searchContacts')).toEqual([])
    // one directory listing, three creates (one merged), one transaction batch
    expect(routes().sort()).toEqual(
      ['createContact', 'createContact', 'createContact', 'createTransactions', 'listDirectories'].sort(),
    )
    const { contacts, transactions } = sb.inspect()
    expect(contacts).toHaveLength(3)
    const knownContact = contacts.find((c) => c.extRef?.toLowerCase() === 'known')!
    expect(knownContact).toMatchObject({ unsubscribed: true, mergeCount: 1 })
    expect(transactions.filter((t) => t.contactId === knownContact.id)).toHaveLength(1)
  })

  it('searches first where the directory deduplicates on more than one field', async () => {
    seed({ mergeRules: [['extRef'], ['email']], contacts: [{ extRef: 'known' }] })
    await run([tx({ extRef: 'known' }), tx({ extRef: 'new-1' })], options)
    expect(routes().filter((r) => r === 'searchContacts')).toHaveLength(2)
    expect(sb.inspect().contacts).toHaveLength(2)
  })

  it('searches first for an item with two lookup identifiers', async () => {
    seed({ contacts: [{ email: 'known@example.com' }] })
    await run([tx({ extRef: 'new-1', email: 'known@example.com' })], options)
    // the search path finds the contact by e-mail, which a merge on extRef would not
    expect(sb.inspect().contacts).toHaveLength(1)
    expect(routes()).not.toContain('listDirectories')
  })

  it('is off by default: a search before each create', async () => {
    seed({ contacts: [] })
    await run([tx({ extRef: 'new-1' })])
    expect(routes().sort()).toEqual(['createContact', 'createTransactions', 'searchContacts'].sort())
  })

  it('when a merged create answers an id that does not resolve, the transaction is refused once and the directory is searched from then on', async () => {
    seed({ contacts: [{ extRef: 'known' }] })
    sb.setBehaviour({ mergeMatchId: 'new' })
    await run([tx({ extRef: 'known' })], options)
    const { contacts, transactions } = sb.inspect()
    expect(contacts).toHaveLength(1)
    expect(transactions.map((t) => t.contactId)).toEqual([contacts[0]!.id])
    expect(routes().filter((r) => r === 'searchContacts')).toHaveLength(1)
  })
})
