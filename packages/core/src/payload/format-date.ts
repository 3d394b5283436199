// Qualtrics wants transaction dates as `YYYY-MM-DD HH:MM:SS` in UTC; anything else is refused.

/** Formats a date, an epoch in ms or a parseable date string; `undefined` when it is not a date.
 * A string already in the Qualtrics form is UTC: `new Date` would read it in the machine's zone, so a
 * payload checked twice (browser, then proxy) would move by the proxy's offset. */
export function toQualtricsDate(value: unknown): string | undefined {
  if (typeof value == 'string' && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(value))
    value = value.replace(' ', 'T') + 'Z'
  const date =
    value instanceof Date || typeof value == 'number' || typeof value == 'string'
      ? new Date(value)
      : undefined
  // toISOString throws on an invalid date; a valid one is always within its range (±275760 years).
  if (!date || isNaN(+date)) return undefined
  const iso = date.toISOString()
  return iso.length === 24 ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}` : undefined
}
