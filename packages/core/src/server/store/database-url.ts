// Kept apart from the PostgreSQL store so that config checks can mask a URL without loading pg.

/** A database URL fit for a log line or an error: the password replaced by `***`. */
export function maskDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.href
  } catch {
    return `a string of ${url.length} characters that is not a URL, hidden`
  }
}
