// The run's PostgreSQL server (test-support/postgres-setup.ts): each test file gets a database of its own.

import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { createTestDatabase } from '../../../../test-support/postgres'

const db = await createTestDatabase()

describe('the test PostgreSQL server', () => {
  it('gives this file an empty database of its own on a supported major version', async () => {
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      const { rows } = await client.query<{ name: string; tables: string }>(
        `SELECT current_database() AS name,
                (SELECT count(*) FROM pg_tables WHERE schemaname = 'public') AS tables`,
      )
      expect(rows[0]).toEqual({ name: new URL(db.url).pathname.slice(1), tables: '0' })
      expect(db.serverMajor).toBeGreaterThanOrEqual(15)
    } finally {
      await client.end()
    }
  })
})
