// The live check of a real brand: what the relay relies on, asked of the configured account. Read-only
// unless a write test is asked for. One result per line; `ok` is false when anything the relay needs
// failed. Whether `or` look-ups are honoured is a capability, not a failure: the report carries it,
// and a record of it (record.ts) is what turns the engine's batched look-ups on.

import { RelayError } from '../../errors'
import type { ContactFilterLeaf, DirectoryContact, QualtricsClient } from '../qualtrics/types'
import { isSameTransaction } from '../delivery/already-written'

export type OrLookups = 'honoured' | 'not-honoured' | 'untested'

export interface LiveCheckResult {
  /** Short name: `whoami`, `directory POOL_…`, `search`, `or lookups`, `write test`, … */
  check: string
  ok: boolean
  detail: string
}

export interface LiveCheckReport {
  ok: boolean
  results: LiveCheckResult[]
  brandId?: string
  orLookups: OrLookups
}

export interface LiveCheckOptions {
  client: Pick<
    QualtricsClient,
    | 'whoami'
    | 'listDirectories'
    | 'searchDirectoryContacts'
    | 'listDirectoryContacts'
    | 'getMailingList'
    | 'createDirectoryContact'
    | 'getDirectoryContact'
    | 'createContactTransactions'
    | 'listContactTransactions'
  >
  /** The directories the configuration sends to. */
  directoryIds: readonly string[]
  /** The mailing lists the configuration sends transactions to (each looked for in those directories). */
  mailingListIds: readonly string[]
  /** Creates a marked test contact and a transaction in this directory, and reads them back. */
  writeTest?: { directoryId: string; mailingListId?: string }
  /** Default `Date.now`; marks the test contact and transaction. */
  now?: () => number
}

/** Test contacts are marked with this extRef prefix, first name and embedded-data field. */
export const LIVE_CHECK_MARK = 'qualtrics-relay-live-check'

const IDENTIFIERS = ['extRef', 'email', 'phone'] as const

function describe(error: unknown): string {
  if (error instanceof RelayError)
    return `${error.code}${error.status === undefined ? '' : ` ${error.status}`}: ${error.message}`
  return error instanceof Error ? error.message : String(error)
}

/** Two contacts holding different values of one identifier, the strongest kind first. */
function probePair(
  contacts: readonly DirectoryContact[],
): { kind: (typeof IDENTIFIERS)[number]; pair: [DirectoryContact, DirectoryContact] } | undefined {
  for (const kind of IDENTIFIERS) {
    const holders = contacts.filter((c) => typeof c[kind] === 'string' && c[kind].trim() !== '')
    const first = holders[0]
    const second = holders.find((c) => c[kind]!.trim().toLowerCase() !== first?.[kind]!.trim().toLowerCase())
    if (first !== undefined && second !== undefined) return { kind, pair: [first, second] }
  }
  return undefined
}

/** `or` of two existing contacts' identifiers: honoured when exactly those two (or more holders of the two values) come back. */
async function probeOr(
  client: LiveCheckOptions['client'],
  directoryId: string,
): Promise<{ orLookups: OrLookups; result: LiveCheckResult }> {
  const check = 'or lookups'
  const listed = await client.listDirectoryContacts(directoryId, { pageSize: 100 })
  const probe = probePair(listed)
  if (probe === undefined) {
    return {
      orLookups: 'untested',
      result: {
        check,
        ok: true,
        detail: `untested: directory ${directoryId} has no two contacts with different values of extRef, e-mail or phone; batched look-ups stay off`,
      },
    }
  }
  const { kind, pair } = probe
  const values = pair.map((c) => c[kind]!.trim())
  const leaves: ContactFilterLeaf[] = values.map((value) => ({ filterType: kind, comparison: 'eq', value }))
  let found: DirectoryContact[]
  try {
    found = (
      await client.searchDirectoryContacts(
        directoryId,
        { conjunction: 'or', filters: leaves },
        { pageSize: 100 },
      )
    ).contacts
  } catch (error) {
    return {
      orLookups: 'not-honoured',
      result: {
        check,
        ok: true,
        detail: `not honoured: an "or" of two ${kind} filters was refused (${describe(error)}); batched look-ups stay off`,
      },
    }
  }
  const wanted = new Set(values.map((v) => v.toLowerCase()))
  const ids = new Set(found.map((c) => c.id))
  const onlyThoseValues = found.every((c) => wanted.has((c[kind] ?? '').trim().toLowerCase()))
  if (ids.has(pair[0].id) && ids.has(pair[1].id) && onlyThoseValues) {
    return {
      orLookups: 'honoured',
      result: {
        check,
        ok: true,
        detail: `honoured: an "or" of two ${kind} filters found both contacts (${found.length} in all); batched look-ups may be used`,
      },
    }
  }
  return {
    orLookups: 'not-honoured',
    result: {
      check,
      ok: true,
      detail: `not honoured: an "or" of two ${kind} filters answered ${found.length} contact(s)${onlyThoseValues ? ', not both' : ', some with other values'}; batched look-ups stay off`,
    },
  }
}

async function writeTest(
  client: LiveCheckOptions['client'],
  target: { directoryId: string; mailingListId?: string },
  at: number,
): Promise<LiveCheckResult[]> {
  const { directoryId, mailingListId } = target
  const marker = `${LIVE_CHECK_MARK}-${at}`
  const results: LiveCheckResult[] = []
  const { id } = await client.createDirectoryContact(directoryId, {
    extRef: marker,
    firstName: LIVE_CHECK_MARK,
    lastName: new Date(at).toISOString(),
    embeddedData: { qualtricsRelayLiveCheck: 'true' },
  })
  const read = await client.getDirectoryContact(directoryId, id)
  const contactOk = read.id === id && read.extRef === marker
  results.push({
    check: 'write test: contact',
    ok: contactOk,
    detail: contactOk
      ? `created test contact ${id} (extRef ${marker}) in ${directoryId} and read it back`
      : `created ${id} but read back extRef ${JSON.stringify(read.extRef)}`,
  })
  if (mailingListId === undefined) {
    results.push({
      check: 'write test: transaction',
      ok: false,
      detail: `no mailing list of ${directoryId} is configured; a transaction needs one`,
    })
    return results
  }
  const transaction = {
    contactId: id,
    mailingListId,
    transactionDate: new Date(at).toISOString().slice(0, 19).replace('T', ' '),
    data: { qualtricsRelayLiveCheck: 'true' },
  }
  const written = await client.createContactTransactions(directoryId, { [marker]: transaction })
  const transactionId = written.created[marker]
  if (transactionId === undefined) {
    const reason = written.unprocessed[marker]
    results.push({
      check: 'write test: transaction',
      ok: false,
      detail: `Qualtrics did not create the test transaction: ${reason?.errorMessage ?? 'no reason given'}`,
    })
    return results
  }
  const listed = await client.listContactTransactions(directoryId, id)
  const back = listed.find((t) => t.id === transactionId)
  const same = back !== undefined && isSameTransaction(back, { key: marker, transaction })
  results.push({
    check: 'write test: transaction',
    ok: same,
    detail: same
      ? `created test transaction ${transactionId} and read it back`
      : `created ${transactionId} but ${back === undefined ? 'the contact’s transactions do not list it' : 'it reads back differently'}`,
  })
  return results
}

/** The directory (of those configured) holding a mailing list; undefined when none answers for it. */
async function findMailingList(
  client: LiveCheckOptions['client'],
  directoryIds: readonly string[],
  mailingListId: string,
): Promise<{ directoryId: string; name?: string } | undefined> {
  for (const directoryId of directoryIds) {
    try {
      const list = await client.getMailingList(directoryId, mailingListId)
      return list.name === undefined ? { directoryId } : { directoryId, name: list.name }
    } catch (error) {
      if (error instanceof RelayError && error.status === 404) continue
      throw error
    }
  }
  return undefined
}

/** Runs every check; never throws for a Qualtrics failure (it becomes a failed line). */
export async function runLiveCheck(options: LiveCheckOptions): Promise<LiveCheckReport> {
  const { client } = options
  const results: LiveCheckResult[] = []
  const report: LiveCheckReport = { ok: false, results, orLookups: 'untested' }
  const attempt = async (check: string, step: () => Promise<void>): Promise<boolean> => {
    try {
      await step()
      return true
    } catch (error) {
      results.push({ check, ok: false, detail: describe(error) })
      return false
    }
  }

  const whoami = await attempt('whoami', async () => {
    const me = await client.whoami()
    report.brandId = me.brandId
    results.push({ check: 'whoami', ok: true, detail: `${me.userName} (${me.userId}), brand ${me.brandId}` })
  })
  if (!whoami) return report

  await attempt('directories', async () => {
    const known = new Map((await client.listDirectories()).map((d) => [d.directoryId, d]))
    for (const directoryId of options.directoryIds) {
      const d = known.get(directoryId)
      results.push({
        check: `directory ${directoryId}`,
        ok: d !== undefined,
        detail:
          d === undefined ? 'not found among the brand’s directories' : `found: ${d.name || '(no name)'}`,
      })
    }
  })
  const listsIn = new Map<string, string[]>()
  for (const mailingListId of options.mailingListIds) {
    await attempt(`mailing list ${mailingListId}`, async () => {
      const home = await findMailingList(client, options.directoryIds, mailingListId)
      if (home !== undefined)
        listsIn.set(home.directoryId, [...(listsIn.get(home.directoryId) ?? []), mailingListId])
      results.push({
        check: `mailing list ${mailingListId}`,
        ok: home !== undefined,
        detail:
          home === undefined
            ? `not found in ${options.directoryIds.length === 0 ? 'any configured directory (none configured)' : options.directoryIds.join(', ')}`
            : `found in ${home.directoryId}: ${home.name ?? '(no name)'}`,
      })
    })
  }

  const probeDirectory = options.writeTest?.directoryId ?? options.directoryIds[0]
  if (probeDirectory !== undefined) {
    const searched = await attempt('search', async () => {
      const leaf: ContactFilterLeaf = {
        filterType: 'extRef',
        comparison: 'eq',
        value: `${LIVE_CHECK_MARK}-none`,
      }
      const found = await client.searchDirectoryContacts(probeDirectory, leaf, { pageSize: 1 })
      results.push({
        check: 'search',
        ok: true,
        detail: `a documented leaf filter (extRef eq) answered ${found.contacts.length} contact(s) in ${probeDirectory}`,
      })
    })
    if (searched) {
      await attempt('or lookups', async () => {
        const probe = await probeOr(client, probeDirectory)
        report.orLookups = probe.orLookups
        results.push(probe.result)
      })
    }
  }

  if (options.writeTest !== undefined) {
    const { directoryId, mailingListId = listsIn.get(directoryId)?.[0] } = options.writeTest
    const target = mailingListId === undefined ? { directoryId } : { directoryId, mailingListId }
    await attempt('write test', async () => {
      results.push(...(await writeTest(client, target, (options.now ?? Date.now)())))
    })
  }
  report.ok = results.every((r) => r.ok)
  return report
}
