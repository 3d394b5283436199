// Deterministic identities: the item id (also the Qualtrics transaction key) and contact-cache keys.

import { hash } from 'node:crypto'

/** What an item's id is derived from. */
export interface ItemIdentity {
  /** Who sent the item (the proxy: the write key's name; the node plugin: its `source` option). */
  source?: string | undefined
  messageId: string
  mappingId: string
}

/**
 * The stable id of the item for `(source, messageId, mappingId)`: 24 lowercase hex characters (96 bits
 * of SHA-256). The same triple gives the same id in every process and version, so it doubles as the
 * transaction key sent to Qualtrics: a retried or re-sent event reuses its key and never writes a second
 * transaction, while two sources that happen to use the same messageId get two ids.
 *
 * The hashed text is the UTF-8 of
 * - with a source: `src:<source.length>:<source>\0<messageId.length>:<messageId>\0<mappingId>`
 * - without one:   `<messageId.length>:<messageId>\0<mappingId>` (the ids of schema 2 and before)
 *
 * Lengths are in UTF-16 code units. The two forms never share an input (one starts with `s`, the other
 * with a digit). The strings must be well-formed UTF-16 (`isWellFormed`): a lone surrogate would be
 * hashed as U+FFFD and collide with it; the engine refuses such items before deriving ids.
 * Safe as a JSON key, a URL segment and a file name.
 */
export function deriveItemId({ source, messageId, mappingId }: ItemIdentity): string {
  const input =
    source === undefined
      ? `${messageId.length}:${messageId}\u0000${mappingId}`
      : `src:${source.length}:${source}\u0000${messageId.length}:${messageId}\u0000${mappingId}`
  // crypto.hash: one call, no Hash object (about 3× faster than createHash for inputs this short).
  return hash('sha256', input, 'hex').slice(0, 24)
}

/** A lone surrogate: in a `u` regex, a surrogate that is half of a pair never matches on its own. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

/**
 * Whether `value` is well-formed UTF-16 (no lone surrogate). JSON can carry a lone surrogate
 * (`"\\ud800"`), but UTF-8, SQLite text and Qualtrics cannot: it turns into U+FFFD on the way, so two
 * different ids would become one.
 */
export function isWellFormed(value: string): boolean {
  return !LONE_SURROGATE.test(value)
}

export type IdentifierKind = 'extRef' | 'email' | 'phone'

/** The order in which identifiers are tried: the strongest first. */
export const IDENTIFIER_ORDER: readonly IdentifierKind[] = ['extRef', 'email', 'phone']

/**
 * The form of an identifier used for cache keys and for matching search results: extRef trimmed
 * (case kept), email trimmed and lower-cased (Qualtrics matches e-mail case-insensitively), phone
 * reduced to its digits with a leading `+` kept. Returns undefined when nothing is left.
 */
export function normaliseIdentifier(kind: IdentifierKind, value: string): string | undefined {
  let out: string
  if (kind === 'email') out = value.trim().toLowerCase()
  else if (kind === 'phone') {
    const trimmed = value.trim()
    out = (trimmed.startsWith('+') ? '+' : '') + trimmed.replace(/\D/g, '')
    if (out === '+') out = ''
  } else out = value.trim()
  return out === '' ? undefined : out
}

/** The contact-id cache key for one identifier of one directory. */
export function contactCacheKey(directoryId: string, kind: IdentifierKind, normalised: string): string {
  return `${directoryId}\u001f${kind}\u001f${normalised}`
}
