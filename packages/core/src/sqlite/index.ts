export { createSqliteStore, SQLITE_SCHEMA_VERSION, type SqliteStoreOptions } from './sqlite-store'
