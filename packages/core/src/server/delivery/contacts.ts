// Contact resolution for transactions, and contact upserts: the contact-id cache, single flight per
// user, searches in identifier order extRef → email → phone, and creation of the contacts nobody found.
//
// Searches use what Qualtrics documents (spec §2.4): one leaf filter per identifier. Batched searches
// (one `or` of leaf filters for many users) are sent only when `orLookups` is on, which the live check
// sets after seeing the brand honour `or`; even then a user such a search did not find is searched for
// again with a leaf before a contact is created: no contact is created on the strength of an
// undocumented query. With `createWithoutSearch: 'when-deduplicated'`, a user whose only lookup
// identifier is the one field the directory deduplicates on is created without a search (the
// directory's merge finds the existing contact; see create-without-search.ts).
//
// An item's `lookupBy` narrows the identifiers that may lead to an existing contact. The others are
// "unvouched": never searched for, never read from or written to the cache, and, before a create,
// checked: when another contact already holds one, it is left out of the create, so neither our
// lookup nor the directory's merge rules can attach the item to that contact.

import type { ContactPayload, TransactionPayload } from '../../actions/payloads'
import { describeValue, RelayError } from '../../errors'
import type {
  ContactFields,
  ContactFilter,
  ContactFilterLeaf,
  DirectoryContact,
  QualtricsApi,
} from '../qualtrics/types'
import type { DeliveryStore } from '../store/types'
import type { Clock } from './clock'
import { createMergeIdentifiers, type CreateWithoutSearch } from './create-without-search'
import type { Endpoint } from './events'
import { contactCacheKey, IDENTIFIER_ORDER, normaliseIdentifier, type IdentifierKind } from './keys'
import type { DeliveryLogger } from './options'

/** Runs one Qualtrics call through the engine's rate limiter, concurrency cap and metrics. */
export type CallQualtrics = <T>(endpoint: Endpoint, items: number, fn: () => Promise<T>) => Promise<T>

export interface Identifier {
  kind: IdentifierKind
  /** As sent in a search: the payload's value, trimmed. */
  value: string
  normalised: string
  key: string
}

export interface ResolvedContact {
  contactId: string
  /** Where the id came from. */
  via: 'given' | 'cache' | 'search' | 'created'
}

/** The identifiers that may find an existing contact (an item's `lookupBy`); undefined: all of them. */
export type LookupBy = readonly IdentifierKind[] | undefined

export interface ContactResolver {
  /** The contact id a transaction goes to: given → cache → search → create, by the `lookupBy` identifiers. */
  resolve(payload: TransactionPayload, lookupBy?: LookupBy): Promise<ResolvedContact>
  /**
   * addContactToXmd: create (an upsert under the directory's merge rules), under the user's lock; caches
   * the id. With `afterAmbiguousWrite` (an earlier create may have been applied unseen), the contact is
   * searched for first and, when found, not created again.
   */
  upsert(
    payload: ContactPayload,
    options?: { afterAmbiguousWrite?: boolean; lookupBy?: LookupBy },
  ): Promise<string>
  /**
   * Drops the cached ids of this payload's identifiers: a transaction sent to `refusedContactId` was
   * refused. When that id came from a create without a search, the directory is searched from now on.
   */
  forget(payload: ContactPayload, lookupBy?: LookupBy, refusedContactId?: string): Promise<void>
  /** Resolves once every shared lock let go so far is back in the store (before the store closes). */
  released(): Promise<void>
}

export interface ContactResolverOptions {
  client: QualtricsApi
  store: DeliveryStore
  clock: Clock
  logger: DeliveryLogger
  call: CallQualtrics
  ambiguousContact: 'newest' | 'fail'
  contactCacheTtlMs: number
  contactLookupBatchSize: number
  /** Batched `or` searches; only when a live check recorded that the brand honours them. */
  orLookups: boolean
  createWithoutSearch: CreateWithoutSearch
  onStoreError: (where: string, error: unknown) => void
  /** Held with the in-process lock around a look-up and create, so engines in other processes never
   * create the same new contact at once (the PostgreSQL store's `createKeyLocks`). */
  sharedLocks?: SharedKeyLocks | undefined
  /** Aborts when the engine stops: a wait for a shared lock ends then (the item is handed back). */
  stopSignal?: () => AbortSignal
}

/**
 * Locks over string keys shared by several processes: `acquire` takes every key (all or none), waiting
 * while another holder has any, and resolves to the release. A holder that dies loses its keys when
 * their lease runs out. A wait that `signal` aborts rejects with `LimiterAbortedError`.
 */
export interface SharedKeyLocks {
  acquire(keys: readonly string[], signal?: AbortSignal): Promise<() => Promise<void>>
}

/** Search page size: enough to see every match of a batch of identifiers in one page. */
const SEARCH_PAGE_SIZE = 100
/** Contact ids answered by creates without a search that are remembered (to recognise a refused one). */
const UNSEARCHED_IDS_KEPT = 10_000

/** The payload's identifiers, strongest first; only the kinds in `lookupBy` when it is given. */
export function identifiersOf(payload: ContactPayload, lookupBy?: LookupBy): Identifier[] {
  const out: Identifier[] = []
  for (const kind of IDENTIFIER_ORDER) {
    if (lookupBy !== undefined && !lookupBy.includes(kind)) continue
    const raw = payload[kind]
    if (typeof raw !== 'string') continue
    const normalised = normaliseIdentifier(kind, raw)
    if (normalised === undefined) continue
    out.push({
      kind,
      value: raw.trim(),
      normalised,
      key: contactCacheKey(payload.directoryId, kind, normalised),
    })
  }
  return out
}

/** The payload's identifiers outside `lookupBy` (none when it is not given). */
export function unvouchedOf(payload: ContactPayload, lookupBy?: LookupBy): Identifier[] {
  if (lookupBy === undefined) return []
  return identifiersOf(payload).filter((id) => !lookupBy.includes(id.kind))
}

/** The contact fields of a payload that Qualtrics' create call takes (undefined ones left out). */
export function contactFieldsOf(payload: ContactPayload): ContactFields {
  const fields: ContactFields = {}
  if (payload.firstName !== undefined) fields.firstName = payload.firstName
  if (payload.lastName !== undefined) fields.lastName = payload.lastName
  if (payload.email !== undefined) fields.email = payload.email
  if (payload.phone !== undefined) fields.phone = payload.phone
  if (payload.extRef !== undefined) fields.extRef = payload.extRef
  if (payload.language !== undefined) fields.language = payload.language
  if (payload.unsubscribed !== undefined) fields.unsubscribed = payload.unsubscribed
  if (payload.embeddedData !== undefined) fields.embeddedData = payload.embeddedData
  return fields
}

/** Shows an identifier in an error without spelling out an e-mail address or a phone number. */
export function maskIdentifier(kind: IdentifierKind, value: string): string {
  if (kind === 'extRef') return describeValue(value)
  if (kind === 'email') {
    const at = value.lastIndexOf('@')
    return at <= 0 ? '"***"' : `"${value[0]}***${value.slice(at)}"`
  }
  return value.length <= 2 ? '"***"' : `"***${value.slice(-2)}"`
}

function timeOf(value: string | undefined): number {
  if (value === undefined) return Number.NEGATIVE_INFINITY
  const t = Date.parse(value)
  return Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t
}

/** Most recently modified wins; then most recently created; a contact without dates never wins. */
function isNewer(a: DirectoryContact, b: DirectoryContact): boolean {
  const am = timeOf(a.lastModified)
  const bm = timeOf(b.lastModified)
  if (am !== bm) return am > bm
  return timeOf(a.creationDate) > timeOf(b.creationDate)
}

function newestOf(matches: readonly DirectoryContact[]): DirectoryContact | undefined {
  let best = matches[0]
  for (const c of matches) if (best !== undefined && isNewer(c, best)) best = c
  return best
}

/** Ordered lock over string keys: a holder takes all its keys (sorted, so no two holders deadlock). */
function createKeyedLocks() {
  const held = new Map<string, Promise<void>>()
  async function lockOne(key: string): Promise<() => void> {
    for (;;) {
      const current = held.get(key)
      if (current === undefined) break
      await current
    }
    let release!: () => void
    held.set(
      key,
      new Promise<void>((resolve) => {
        release = resolve
      }),
    )
    return () => {
      held.delete(key)
      release()
    }
  }
  return {
    async acquire(keys: readonly string[]): Promise<() => void> {
      const releases: (() => void)[] = []
      for (const key of [...new Set(keys)].sort()) releases.push(await lockOne(key))
      return () => {
        for (const release of releases.reverse()) release()
      }
    },
  }
}

interface Lookup {
  directoryId: string
  ids: Identifier[]
  payload: ContactPayload
  /** Identifiers of the payload outside `lookupBy`: checked before a create (see `fieldsToCreate`). */
  unvouched: Identifier[]
  settled: boolean
  resolve: (result: ResolvedContact) => void
  reject: (error: unknown) => void
}

export function createContactResolver(options: ContactResolverOptions): ContactResolver {
  const { client, store, clock, logger, call } = options
  const localLocks = createKeyedLocks()
  /** This process's lock first (no round trip while another item of ours holds the user), then the
   * shared one. */
  /** Shared lock releases on their way to the store. */
  const releasing = new Set<Promise<void>>()
  const locks = {
    async acquire(keys: readonly string[]): Promise<() => void> {
      const releaseLocal = await localLocks.acquire(keys)
      if (options.sharedLocks === undefined) return releaseLocal
      let releaseShared: () => Promise<void>
      try {
        releaseShared = await options.sharedLocks.acquire(keys, options.stopSignal?.())
      } catch (error) {
        releaseLocal()
        throw error
      }
      return () => {
        const done = releaseShared().then(releaseLocal, (error: unknown) => {
          releaseLocal()
          options.onStoreError('contact lock release', error)
        })
        releasing.add(done)
        void done.finally(() => releasing.delete(done))
      }
    },
  }
  /** Lookups waiting for the next round, by directory. */
  let queued = new Map<string, Lookup[]>()
  let roundScheduled = false
  /** Off unless a live check recorded `or` as honoured; turned off for good when Qualtrics refuses one. */
  let orSearches = options.orLookups && options.contactLookupBatchSize > 1
  const mergeIdentifiers = createMergeIdentifiers({ client, call, clock, logger })
  /** Ids answered by creates without a search, newest last (insertion order), at most UNSEARCHED_IDS_KEPT. */
  const unsearchedIds = new Map<string, string>()

  async function fromCache(ids: readonly Identifier[]): Promise<string | undefined> {
    const now = clock.now()
    for (const id of ids) {
      try {
        const hit = await store.getContact(id.key, now)
        if (hit !== undefined) return hit
      } catch (error) {
        options.onStoreError('contact cache read', error)
        return undefined
      }
    }
    return undefined
  }

  async function remember(ids: readonly Identifier[], contactId: string): Promise<void> {
    if (ids.length === 0 || options.contactCacheTtlMs <= 0) return
    const expiresAt = clock.now() + options.contactCacheTtlMs
    try {
      await store.putContacts(ids.map((id) => ({ key: id.key, contactId, expiresAt })))
    } catch (error) {
      options.onStoreError('contact cache write', error)
    }
  }

  function settle(lookup: Lookup, outcome: { ok: ResolvedContact } | { error: unknown }): void {
    if (lookup.settled) return
    lookup.settled = true
    if ('ok' in outcome) lookup.resolve(outcome.ok)
    else lookup.reject(outcome.error)
  }

  /** Picks the contact among several matches of one identifier, by policy. */
  function choose(matches: readonly DirectoryContact[], directoryId: string, id: Identifier): string {
    const first = matches[0]
    if (first === undefined) throw new RelayError('CONTACT_NOT_FOUND', 'no contact to choose from')
    if (matches.length === 1) return first.id
    if (options.ambiguousContact === 'fail') {
      throw new RelayError(
        'CONTACT_AMBIGUOUS',
        `${matches.length >= SEARCH_PAGE_SIZE ? 'At least ' : ''}${matches.length} contacts in directory ${directoryId} match ${id.kind} ${maskIdentifier(id.kind, id.value)}, and ambiguousContact is "fail"; merge the duplicates in Qualtrics or set ambiguousContact to "newest"`,
        { status: 409, retryable: false },
      )
    }
    const best = newestOf(matches) ?? first
    logger.warn(
      { directoryId, identifier: id.kind, matches: matches.length, contactId: best.id },
      'several contacts match one identifier; using the most recently modified',
    )
    return best.id
  }

  function leaf(kind: IdentifierKind, value: string): ContactFilterLeaf {
    return { filterType: kind, comparison: 'eq', value }
  }

  async function searchOne(directoryId: string, kind: IdentifierKind, lookup: Lookup): Promise<void> {
    const id = lookup.ids.find((i) => i.kind === kind)
    if (id === undefined || lookup.settled) return
    try {
      const found = await call('searchDirectoryContacts', 1, () =>
        client.searchDirectoryContacts(directoryId, leaf(kind, id.value), { pageSize: SEARCH_PAGE_SIZE }),
      )
      if (found.contacts.length > 0) {
        settle(lookup, { ok: { contactId: choose(found.contacts, directoryId, id), via: 'search' } })
      }
    } catch (error) {
      settle(lookup, { error })
    }
  }

  /**
   * One search for many users: an `or` of leaf filters, its matches attributed back by the searched
   * field. When a match cannot be attributed (Qualtrics returned a field we did not search for, or
   * none), or there are more matches than one page, the chunk is searched one identifier at a time.
   */
  async function searchMany(directoryId: string, kind: IdentifierKind, chunk: Lookup[]): Promise<void> {
    const byValue = new Map<string, { lookup: Lookup; id: Identifier; matches: DirectoryContact[] }>()
    for (const lookup of chunk) {
      const id = lookup.ids.find((i) => i.kind === kind)
      if (id !== undefined) byValue.set(id.normalised, { lookup, id, matches: [] })
    }
    const filter: ContactFilter = {
      conjunction: 'or',
      filters: [...byValue.values()].map((v) => leaf(kind, v.id.value)),
    }
    let contacts: DirectoryContact[]
    try {
      const found = await call('searchDirectoryContacts', chunk.length, () =>
        client.searchDirectoryContacts(directoryId, filter, { pageSize: SEARCH_PAGE_SIZE }),
      )
      if (found.skipToken !== undefined) {
        await Promise.all(chunk.map((l) => searchOne(directoryId, kind, l)))
        return
      }
      contacts = found.contacts
    } catch (error) {
      if (error instanceof RelayError && !error.retryable && (error.status === 400 || error.status === 422)) {
        orSearches = false
        logger.warn(
          { directoryId, status: error.status, code: error.code },
          'Qualtrics refused a search with an "or" filter; looking contacts up one identifier at a time from now on',
        )
        await Promise.all(chunk.map((l) => searchOne(directoryId, kind, l)))
        return
      }
      for (const lookup of chunk) settle(lookup, { error })
      return
    }
    for (const contact of contacts) {
      const raw = contact[kind]
      const normalised = typeof raw === 'string' ? normaliseIdentifier(kind, raw) : undefined
      const slot = normalised === undefined ? undefined : byValue.get(normalised)
      if (slot === undefined) {
        await Promise.all(chunk.map((l) => searchOne(directoryId, kind, l)))
        return
      }
      slot.matches.push(contact)
    }
    const unmatched: Lookup[] = []
    for (const { lookup, id, matches } of byValue.values()) {
      if (matches.length === 0) {
        unmatched.push(lookup)
        continue
      }
      try {
        settle(lookup, { ok: { contactId: choose(matches, directoryId, id), via: 'search' } })
      } catch (error) {
        settle(lookup, { error })
      }
    }
    // "No match" from an undocumented query is not trusted: a leaf search confirms it before any create.
    await Promise.all(unmatched.map((l) => searchOne(directoryId, kind, l)))
  }

  /**
   * The fields to create a contact with. An unvouched identifier (outside the item's `lookupBy`) that
   * another contact already holds is left out: sent, it could merge the new contact into that one
   * under the directory's merge rules, or make later look-ups by it ambiguous. "Another" is any
   * holder whose extRef differs from the payload's (or every holder, when the payload has none).
   */
  async function fieldsToCreate(
    directoryId: string,
    payload: ContactPayload,
    unvouched: readonly Identifier[],
  ): Promise<ContactFields> {
    const fields = contactFieldsOf(payload)
    if (unvouched.length === 0) return fields
    const own = typeof payload.extRef === 'string' ? normaliseIdentifier('extRef', payload.extRef) : undefined
    const held = await Promise.all(
      unvouched.map(async (id) => {
        const found = await call('searchDirectoryContacts', 1, () =>
          client.searchDirectoryContacts(directoryId, leaf(id.kind, id.value), {
            pageSize: SEARCH_PAGE_SIZE,
          }),
        )
        const heldByAnother = found.contacts.some((c) => {
          const theirs = typeof c.extRef === 'string' ? normaliseIdentifier('extRef', c.extRef) : undefined
          return own === undefined || theirs !== own
        })
        return heldByAnother ? id.kind : undefined
      }),
    )
    for (const kind of held) {
      if (kind === undefined || kind === 'extRef') continue
      delete fields[kind]
      logger.warn(
        { directoryId, identifier: kind },
        'another contact holds this identifier, which the item may not be looked up by; creating the contact without it',
      )
    }
    return fields
  }

  /** The lookups of a round that a create finds without a search (see create-without-search.ts). */
  async function unsearched(directoryId: string, lookups: readonly Lookup[]): Promise<Set<Lookup>> {
    const candidates = lookups.filter((l) => l.ids.length === 1)
    if (
      options.createWithoutSearch === 'never' ||
      options.ambiguousContact !== 'newest' ||
      candidates.length === 0
    )
      return new Set()
    const mergesOn = await mergeIdentifiers.of(directoryId)
    return new Set(candidates.filter((l) => l.ids[0]?.kind === mergesOn))
  }

  async function create(directoryId: string, lookup: Lookup, searched: boolean): Promise<void> {
    try {
      const fields = await fieldsToCreate(directoryId, lookup.payload, lookup.unvouched)
      // Unsearched, the create may merge into an existing contact: never let it undo an opt-out.
      if (!searched && fields.unsubscribed === false) delete fields.unsubscribed
      const created = await call('createDirectoryContact', 1, () =>
        client.createDirectoryContact(directoryId, fields),
      )
      if (!searched) {
        unsearchedIds.set(created.id, directoryId)
        if (unsearchedIds.size > UNSEARCHED_IDS_KEPT) unsearchedIds.delete(unsearchedIds.keys().next().value!)
      }
      settle(lookup, { ok: { contactId: created.id, via: 'created' } })
    } catch (error) {
      settle(lookup, { error })
    }
  }

  async function runRound(directoryId: string, lookups: Lookup[]): Promise<void> {
    const skip = await unsearched(directoryId, lookups)
    const searchable = lookups.filter((l) => !skip.has(l))
    for (const kind of IDENTIFIER_ORDER) {
      const open = searchable.filter((l) => !l.settled && l.ids.some((i) => i.kind === kind))
      if (open.length === 0) continue
      if (!orSearches || open.length === 1) {
        await Promise.all(open.map((l) => searchOne(directoryId, kind, l)))
        continue
      }
      const chunks: Lookup[][] = []
      for (let i = 0; i < open.length; i += options.contactLookupBatchSize) {
        chunks.push(open.slice(i, i + options.contactLookupBatchSize))
      }
      await Promise.all(
        chunks.map((c) =>
          c.length === 1 ? searchOne(directoryId, kind, c[0]!) : searchMany(directoryId, kind, c),
        ),
      )
    }
    await Promise.all(lookups.filter((l) => !l.settled).map((l) => create(directoryId, l, !skip.has(l))))
  }

  function runQueued(): void {
    roundScheduled = false
    const rounds = queued
    queued = new Map()
    for (const [directoryId, lookups] of rounds) {
      runRound(directoryId, lookups).catch((error: unknown) => {
        for (const lookup of lookups) settle(lookup, { error })
      })
    }
  }

  /** Joins the next lookup round; rounds gather everything asked for within one turn of the event loop. */
  function lookUp(
    directoryId: string,
    ids: Identifier[],
    payload: ContactPayload,
    unvouched: Identifier[],
  ): Promise<ResolvedContact> {
    return new Promise((resolve, reject) => {
      const lookup: Lookup = { directoryId, ids, payload, unvouched, settled: false, resolve, reject }
      const list = queued.get(directoryId)
      if (list === undefined) queued.set(directoryId, [lookup])
      else list.push(lookup)
      if (!roundScheduled) {
        roundScheduled = true
        setImmediate(runQueued)
      }
    })
  }

  return {
    async resolve(payload: TransactionPayload, lookupBy?: LookupBy): Promise<ResolvedContact> {
      if (payload.contactId !== undefined && payload.contactId !== '')
        return { contactId: payload.contactId, via: 'given' }
      const ids = identifiersOf(payload, lookupBy)
      if (ids.length === 0) {
        const needed =
          lookupBy === undefined ? 'extRef, email or phone' : `${lookupBy.join(' or ')} (lookupBy)`
        throw new RelayError(
          'CONTACT_NOT_FOUND',
          `Cannot find or create the contact of a transaction in directory ${payload.directoryId}: it has no contactId, ${needed}`,
          { status: 400, retryable: false },
        )
      }
      const cached = await fromCache(ids)
      if (cached !== undefined) return { contactId: cached, via: 'cache' }
      const release = await locks.acquire(ids.map((i) => i.key))
      try {
        // Another item of the same user may have resolved it while this one waited for the lock.
        const again = await fromCache(ids)
        if (again !== undefined) return { contactId: again, via: 'cache' }
        const resolved = await lookUp(payload.directoryId, ids, payload, unvouchedOf(payload, lookupBy))
        await remember(ids, resolved.contactId)
        return resolved
      } finally {
        release()
      }
    },

    async upsert(
      payload: ContactPayload,
      upsertOptions: { afterAmbiguousWrite?: boolean; lookupBy?: LookupBy } = {},
    ): Promise<string> {
      const ids = identifiersOf(payload, upsertOptions.lookupBy)
      const release = await locks.acquire(ids.map((i) => i.key))
      try {
        if (upsertOptions.afterAmbiguousWrite === true) {
          for (const id of ids) {
            const found = await call('searchDirectoryContacts', 1, () =>
              client.searchDirectoryContacts(payload.directoryId, leaf(id.kind, id.value), {
                pageSize: SEARCH_PAGE_SIZE,
              }),
            )
            const existing = newestOf(found.contacts)
            if (existing === undefined) continue
            logger.info(
              { directoryId: payload.directoryId, identifier: id.kind, contactId: existing.id },
              'an earlier create of this contact was applied; not creating it again',
            )
            await remember(ids, existing.id)
            return existing.id
          }
        }
        const fields = await fieldsToCreate(
          payload.directoryId,
          payload,
          unvouchedOf(payload, upsertOptions.lookupBy),
        )
        const created = await call('createDirectoryContact', 1, () =>
          client.createDirectoryContact(payload.directoryId, fields),
        )
        await remember(ids, created.id)
        return created.id
      } finally {
        release()
      }
    },

    async released(): Promise<void> {
      await Promise.all([...releasing])
    },

    async forget(payload: ContactPayload, lookupBy?: LookupBy, refusedContactId?: string): Promise<void> {
      const directoryId = refusedContactId === undefined ? undefined : unsearchedIds.get(refusedContactId)
      if (directoryId !== undefined) mergeIdentifiers.distrust(directoryId)
      const keys = identifiersOf(payload, lookupBy).map((i) => i.key)
      if (keys.length === 0) return
      try {
        await store.deleteContacts(keys)
      } catch (error) {
        options.onStoreError('contact cache delete', error)
      }
    },
  }
}
