// The one place that decides whether an error is the machine's fault (out of file descriptors, memory or
// disk; the database busy or failing to write) rather than the request's. Such failures are answered 503
// with Retry-After — retryable, so a plugin keeps its items — never 4xx, which a plugin takes as final.
// Libraries wrap them (body-parser turns any read failure into a 400, raw-body into a 415), so the
// whole `cause` chain is searched for the system or SQLite code.

/** errno codes that say the process or machine ran out of something, or the disk failed. */
const SYSTEM_CODES = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EAGAIN'])

/** SQLite result codes (better-sqlite3's `code`, extended codes included) that are not the request's fault. */
const SQLITE_CODE = /^SQLITE_(FULL|IOERR|BUSY|LOCKED|NOMEM|CANTOPEN|READONLY|PROTOCOL|CORRUPT|NOTADB)/

export interface ResourceFailure {
  /** The code found: `EMFILE`, `SQLITE_FULL`, `SQLITE_IOERR_WRITE`, … */
  code: string
  /** Disk and database failures are the store's; the others the process's. */
  kind: 'storage' | 'process'
}

/** The resource failure behind `error` (searched through `cause`, at most 8 deep), if any. */
export function resourceFailureOf(error: unknown): ResourceFailure | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string') {
      if (SQLITE_CODE.test(code)) return { code, kind: 'storage' }
      if (SYSTEM_CODES.has(code))
        return {
          code,
          kind: code === 'ENOSPC' || code === 'EDQUOT' || code === 'EROFS' ? 'storage' : 'process',
        }
    }
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}
