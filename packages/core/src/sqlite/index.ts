export { createSqliteStore, type SqliteStoreOptions } from './sqlite-store'
export { SQLITE_SCHEMA_VERSION } from './schema'
