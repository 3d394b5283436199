// Test helper: a database of its own for one test file on the run's PostgreSQL server
// (test-support/postgres-setup.ts), dropped again after the file.

import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, inject } from 'vitest'

declare module 'vitest' {
  export interface ProvidedContext {
    /** A URL of the test server's maintenance database, for creating one database per test file. */
    postgresAdminUrl: string
  }
}

export interface TestDatabase {
  /** Connection URL of the new database. */
  url: string
  /** The server's major version (18 embedded; another with QR_TEST_DATABASE_URL). */
  serverMajor: number
}

/** Creates an empty database for this test file and drops it after the file's tests. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('postgresAdminUrl')
  const name = `qr_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  let serverMajor: number
  try {
    await admin.query(`CREATE DATABASE ${name}`)
    const { rows } = await admin.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)
    serverMajor = Math.floor(Number(rows[0]?.v) / 10_000)
  } finally {
    await admin.end()
  }
  afterAll(async () => {
    const client = new pg.Client({ connectionString: adminUrl })
    await client.connect()
    try {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    } finally {
      await client.end()
    }
  })
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return { url: url.href, serverMajor }
}
