// @qualtrics-relay/core/postgres — the delivery store on PostgreSQL, for several instances on one
// database. Needs the optional peer dependency `pg` (8.x).
export { createPostgresStore, type PostgresStore } from './postgres-store'
export { POSTGRES_SCHEMA_VERSION } from './migrations'
export type { PostgresRateBudgetOptions, SharedRateBudget } from './rate-budget'
export type { PostgresKeyLocksOptions } from './key-locks'
export type { PostgresCircuitOptions } from './circuit'
export { maskDatabaseUrl } from '../server/store/database-url'
export type { PostgresStoreLogger, PostgresStoreOptions } from './options'
