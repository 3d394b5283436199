// Deterministic identities: the item id (also the Qualtrics transaction key) and contact-cache keys.

import { hash } from 'node:crypto'

/**
 * The stable id of the item for `(messageId, mappingId)`: 24 lowercase hex characters (96 bits of
 * SHA-256). The same pair gives the same id in every process and version, so it doubles as the
 * transaction key sent to Qualtrics: a retried or re-sent event reuses its key and never writes a
 * second transaction. Safe as a JSON key, a URL segment and a file name.
 */
export function deriveItemId(messageId: string, mappingId: string): string {
  // crypto.hash: one call, no Hash object (about 3× faster than createHash for inputs this short).
  return hash('sha256', `${messageId.length}:${messageId}\u0000${mappingId}`, 'hex').slice(0, 24)
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
