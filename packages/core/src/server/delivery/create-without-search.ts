// The cheaper path for users not yet cached (engine option `createWithoutSearch: 'when-deduplicated'`):
// where a directory's merge rules match on exactly the identifier an item is looked up by, a create
// does what "search, then create when nothing matched" does, in one request. Qualtrics documents that a
// create matching a merge rule updates the existing contact instead of adding one (spec §2.3, §3).
//
// The conditions, each from what the spec leaves open:
//  - `deduplicationCriteria` (GET /directories, spec §2.2) names exactly ONE field. With several, the
//    booleans do not say whether they combine as one rule (all must match) or as separate rules (any
//    may): under the first reading a user whose e-mail changed would get a second contact.
//  - that field is the item's only lookup identifier: the search path would also try weaker ones.
//  - which id a merged create answers is not documented (spec §5.2): a transaction refused for the
//    answered id `distrust`s the directory, and the engine searches there from then on.
//  - which fields a merge overwrites is not documented either: the create leaves `unsubscribed: false`
//    out, so a merge can never undo an opt-out; the other fields update the existing contact as any
//    create into that directory would (names, language, embedded data).

import type { DeduplicationCriteria, QualtricsApi } from '../qualtrics/types'
import type { Clock } from './clock'
import type { CallQualtrics } from './contacts'
import type { IdentifierKind } from './keys'
import type { DeliveryLogger } from './options'

export type CreateWithoutSearch = 'never' | 'when-deduplicated'

const CRITERION_OF: Record<IdentifierKind, keyof DeduplicationCriteria> = {
  extRef: 'externalDataReference',
  email: 'email',
  phone: 'phone',
}

/** Directory settings change rarely; re-read them this often. */
const REFRESH_MS = 10 * 60_000
/** After a failed read, search (the safe path) for this long before asking again. */
const RETRY_MS = 60_000

/** The identifier a directory's merge rules use when they use exactly one field and it is one of ours. */
export function soleMergeIdentifier(criteria: DeduplicationCriteria | undefined): IdentifierKind | undefined {
  if (criteria === undefined) return undefined
  const on = Object.entries(criteria).filter(([, value]) => value === true)
  if (on.length !== 1) return undefined
  const field = on[0]?.[0]
  return (Object.keys(CRITERION_OF) as IdentifierKind[]).find((kind) => CRITERION_OF[kind] === field)
}

export interface MergeIdentifiers {
  /** The identifier a create into this directory merges on (undefined: search first). */
  of(directoryId: string): Promise<IdentifierKind | undefined>
  /** A contact id answered by such a create did not resolve: search first in this directory from now on. */
  distrust(directoryId: string): void
}

export function createMergeIdentifiers(options: {
  client: QualtricsApi
  call: CallQualtrics
  clock: Clock
  logger: DeliveryLogger
}): MergeIdentifiers {
  const { client, call, clock, logger } = options
  const distrusted = new Set<string>()
  let read: { until: number; byDirectory: Promise<Map<string, IdentifierKind | undefined>> } | undefined

  function load(): Promise<Map<string, IdentifierKind | undefined>> {
    const now = clock.now()
    if (read !== undefined && now < read.until) return read.byDirectory
    const current = {
      until: now + REFRESH_MS,
      byDirectory: call('listDirectories', 0, () => client.listDirectories()).then(
        (directories) =>
          new Map(directories.map((d) => [d.directoryId, soleMergeIdentifier(d.deduplicationCriteria)])),
        (error: unknown) => {
          current.until = clock.now() + RETRY_MS
          logger.warn(
            { code: error instanceof Error && 'code' in error ? error.code : undefined },
            'could not read the directories’ deduplication criteria; searching before every create for now',
          )
          return new Map<string, IdentifierKind | undefined>()
        },
      ),
    }
    read = current
    return current.byDirectory
  }

  return {
    async of(directoryId) {
      if (distrusted.has(directoryId)) return undefined
      return (await load()).get(directoryId)
    },
    distrust(directoryId) {
      if (distrusted.has(directoryId)) return
      distrusted.add(directoryId)
      logger.warn(
        { directoryId },
        'a contact id answered by a create into a deduplicated directory was refused; searching before creating there from now on',
      )
    },
  }
}
