// Notices when the SQLite files the proxy opened are no longer the ones at their paths: deleted (or
// replaced) under a running proxy, SQLite keeps writing into the unlinked file, every 202 looks fine, and
// everything accepted is gone at the next start. The guard remembers each file's device and inode at
// start and compares them with what the path holds now (a stat: microseconds), and checks the files are
// still writable. Readiness and the batch route ask it before every answer; a short cache keeps a burst
// of batches from stat-ing for each.
import { accessSync, constants, statSync } from 'node:fs'
import { basename } from 'node:path'

export type StorageCheck = { ok: true } | { ok: false; code: 'STORAGE_ERROR'; message: string }

export interface StorageGuard {
  /** The files' state, at most `maxAgeMs` old (0: looked at now). */
  check(maxAgeMs?: number): StorageCheck
}

interface Identity {
  dev: number
  ino: number
}

const OK: StorageCheck = { ok: true }

/** A guard for the database at `path` (and its `-wal` file); `:memory:` has nothing to guard. */
export function createStorageGuard(path: string, now: () => number = Date.now): StorageGuard {
  if (path === ':memory:') return { check: () => OK }
  const files = [path, `${path}-wal`]
  const opened = new Map<string, Identity>()
  for (const file of files) {
    const id = safely(() => identityOf(file))
    if (id !== undefined && 'dev' in id) opened.set(file, id)
  }
  let last: { at: number; result: StorageCheck } | undefined

  function look(): StorageCheck {
    for (const file of files) {
      const then = opened.get(file)
      const current = safely(() => identityOf(file))
      if (current !== undefined && 'error' in current)
        return fail(`The database file ${basename(file)} cannot be checked (${current.error})`)
      if (then === undefined) {
        // The WAL may appear after start: it is remembered the first time it is seen.
        if (current !== undefined) opened.set(file, current)
        continue
      }
      if (current === undefined || current.dev !== then.dev || current.ino !== then.ino) {
        return fail(
          `The database file ${basename(file)} was ${current === undefined ? 'deleted' : 'replaced'} while the proxy ran: items stored now would be lost at the next start, so none are accepted. Restart the proxy.`,
        )
      }
      try {
        accessSync(file, constants.W_OK)
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unknown'
        return fail(`The database file ${basename(file)} is not writable (${code})`)
      }
    }
    return OK
  }

  return {
    check(maxAgeMs = 0) {
      const at = now()
      if (last === undefined || at - last.at > maxAgeMs || at < last.at) last = { at, result: look() }
      return last.result
    },
  }
}

function safely<T>(fn: () => T): T | { error: string } {
  try {
    return fn()
  } catch (error) {
    return { error: (error as NodeJS.ErrnoException).code ?? 'unknown error' }
  }
}

function fail(message: string): StorageCheck {
  return { ok: false, code: 'STORAGE_ERROR', message }
}

/** The file's device and inode; undefined when there is no such file (other failures throw). */
function identityOf(file: string): Identity | undefined {
  try {
    const s = statSync(file)
    return { dev: s.dev, ino: s.ino }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw error
  }
}
