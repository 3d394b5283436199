// @qualtrics-relay/core/server — server-only: the Qualtrics API client, the delivery engine and the
// in-memory store. The SQLite store is in @qualtrics-relay/core/sqlite (better-sqlite3 is optional).
export * from './qualtrics/index'
export * from './delivery/index'
export * from './store/index'
export * from './live-check/index'
