// Signed identities and secret comparison. A site's backend signs the signed-in user's id with the
// write key's secret; the browser sends `{ userId, signature }` with each item; the proxy checks it, so
// a visitor cannot claim another user's id.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

/** `hex(HMAC-SHA256(secret, userId))`: what a site's backend computes for the signed-in user. */
export function signIdentity(secret: string, userId: string): string {
  return createHmac('sha256', secret).update(userId, 'utf8').digest('hex')
}

/**
 * Whether a signed userId is in the one form the proxy accepts: no surrounding whitespace, and lower
 * case that stays the same through upper and back (so no "ß", dotless "ı", long "ſ" …). Qualtrics finds
 * and merges contacts by extRef ignoring case and surrounding spaces, so "ALICE-7" and "alice-7" would
 * reach one contact; with only this form signed, two signed users can never share one.
 */
export function isCanonicalUserId(userId: string): boolean {
  return userId === userId.trim().toLowerCase() && userId === userId.toUpperCase().toLowerCase()
}

/** Checks a signature in constant time (for a given length of input). */
export function isValidSignature(secret: string, userId: string, signature: string): boolean {
  const expected = Buffer.from(signIdentity(secret, userId), 'utf8')
  const given = Buffer.from(signature.toLowerCase(), 'utf8')
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** Compares two secrets without leaking where they differ or how long the expected one is. */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest()
  const b = createHash('sha256').update(expected, 'utf8').digest()
  return timingSafeEqual(a, b)
}
