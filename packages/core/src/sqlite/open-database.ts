// Opening the store's SQLite file: one process per file, checked before use, then migrated.
//
// One process per file: the connection runs in `locking_mode = EXCLUSIVE`, so its first read takes an
// OS lock on the database file (fcntl) that it holds until it closes; the kernel drops it when the
// process dies, SIGKILL included. A second process (or a second store in this one) gets SQLITE_BUSY on
// its first read and is refused with a clear message. In WAL mode this also means no `-shm` file (the
// WAL index lives in the process's memory) and no readers from other processes while it runs.
//
// Checked before use: the WAL is read for frames SQLite's recovery would silently drop (see
// wal-check.ts), and `PRAGMA quick_check` looks over the database. Either finding stops the start.

import { copyFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import { describeValue } from '../errors'
import { messageOf, StoreError } from '../server/store/errors'
import { migrate } from './schema'
import { inspectWal, type WalDamage } from './wal-check'

export interface OpenOptions {
  path: string
  synchronous: 'normal' | 'full'
  /** How long to wait for another process to let go of the file before refusing. */
  lockTimeoutMs: number
  /** Names the copy kept of a damaged WAL; injected so tests can pin it. */
  now: () => Date
}

const shown = (path: string) => describeValue(path, 200)

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED'
}

/** Opens, locks, checks and migrates the file; throws StoreError (not retryable) when it must not be used. */
export function openDatabase(options: OpenOptions): Database.Database {
  let db: Database.Database
  try {
    db = new Database(options.path, { timeout: options.lockTimeoutMs })
  } catch (cause) {
    throw new StoreError(
      `Could not open the SQLite database at ${shown(options.path)}: ${messageOf(cause)}`,
      {
        cause,
        retryable: false,
      },
    )
  }
  const onDisk = options.path !== ':memory:' && options.path !== ''
  let copy: string | undefined
  try {
    db.pragma('locking_mode = EXCLUSIVE')
    try {
      // The first read: takes the lock for the life of the connection.
      db.pragma('journal_mode = WAL')
    } catch (cause) {
      if (!isBusy(cause)) throw cause
      throw new StoreError(
        `The SQLite database ${shown(options.path)} is in use by another process (or another store in this one): one process per database file. Stop the other proxy or node plugin, or give this one its own file`,
        { cause, retryable: false },
      )
    }
    if (onDisk) {
      const damage = inspectWal(`${options.path}-wal`)
      if (damage !== undefined) {
        copy = `${options.path}-wal.damaged-${options.now().toISOString().replace(/[:.]/g, '-')}`
        copyFileSync(`${options.path}-wal`, copy)
        throw new StoreError(walMessage(options.path, damage, copy), { retryable: false })
      }
      const problems = (db.pragma('quick_check(5)') as { quick_check: string }[]).map((r) =>
        r.quick_check.replace(/\s+/g, ' '),
      )
      if (problems.join() !== 'ok') {
        throw new StoreError(
          `The SQLite database ${shown(options.path)} fails its integrity check (PRAGMA quick_check): ${problems.join('; ')}. Restore it from a backup, or recover what is readable into a new file with the sqlite3 shell's .recover`,
          { retryable: false },
        )
      }
    }
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`)
    // Checkpoint every ~16 MB of WAL instead of SQLite's ~4 MB: item ids are hashes, so each commit
    // dirties pages all over the indexes, and a page changed again before the next checkpoint is
    // copied back (and synced) once. About a third less write time per accepted item.
    db.pragma('wal_autocheckpoint = 4000')
    migrate(db)
  } catch (cause) {
    // Closing checkpoints what SQLite could read of the WAL into the file, so a start after a damaged
    // WAL was reported goes on with the readable part (the copy keeps the rest).
    db.close()
    if (cause instanceof StoreError) throw cause
    throw new StoreError(
      `Could not prepare the SQLite database at ${shown(options.path)}: ${messageOf(cause)}`,
      { cause, retryable: false },
    )
  }
  return db
}

function walMessage(path: string, damage: WalDamage, copy: string): string {
  const where =
    damage.firstBadFrame === 0
      ? 'its header is unreadable'
      : `frame ${damage.firstBadFrame} of ${damage.frames} fails its checksum`
  return (
    `The SQLite write-ahead log ${shown(`${path}-wal`)} is damaged: ${where}, so SQLite would silently drop ` +
    `${damage.lostFrames} frame${damage.lostFrames === 1 ? '' : 's'} holding ${damage.lostCommits} ` +
    `committed transaction${damage.lostCommits === 1 ? '' : 's'} (accepted items among them are lost). ` +
    `A copy of the log is kept at ${shown(copy)}. Starting again goes on with the readable part; ` +
    `to get the rest back, restore the database from a backup`
  )
}
