// The SQLite store's schema and its migrations (`PRAGMA user_version` holds the version a file has).
// A new file gets the current schema at once; an older file runs the migrations above its version.

import type Database from 'better-sqlite3'
import { StoreError } from '../server/store/errors'

/** The schema version this code writes (`PRAGMA user_version`). */
export const SQLITE_SCHEMA_VERSION = 4

/**
 * The items table as schema 3 has it, written once for new files and for the v3 rebuild (under another
 * name, beside the old table). A later change to it is a migration of its own, never an edit here: the
 * v3 rebuild must keep making the v3 form.
 */
const itemsTable = (name: string) => `
  CREATE TABLE ${name} (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    mapping_id TEXT NOT NULL,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    source TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    delivered_at INTEGER,
    last_error TEXT,
    result TEXT,
    lookup_by TEXT,
    legacy_id INTEGER NOT NULL DEFAULT 0
  ) STRICT;`

const ITEM_INDEXES = `
  CREATE INDEX items_pending_due ON items (next_attempt_at) WHERE state = 'pending';
  CREATE INDEX items_leased_until ON items (lease_until) WHERE state = 'leased';
  CREATE INDEX items_state_updated ON items (state, updated_at);
  CREATE INDEX items_dead ON items (id) WHERE state = 'dead';
  CREATE INDEX items_message ON items (message_id, source);
  CREATE INDEX items_legacy ON items (message_id, mapping_id, source) WHERE legacy_id = 1;
`

// 4: Qualtrics transactions claimed by items, one item per transaction: by a delivered item (the id
// in its result) and by the re-send check. Pruned with their items (by item_id).
const TRANSACTION_CLAIMS = `
  CREATE TABLE transaction_claims (
    directory_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    claimed_at INTEGER NOT NULL,
    PRIMARY KEY (directory_id, transaction_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX transaction_claims_item ON transaction_claims (item_id);
`

/** Everything a new file gets: the schema as of SQLITE_SCHEMA_VERSION. */
const CURRENT = `
  ${itemsTable('items')}
  ${ITEM_INDEXES}
  CREATE TABLE contacts (
    key TEXT PRIMARY KEY,
    contact_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX contacts_expires ON contacts (expires_at);
  ${TRANSACTION_CLAIMS}
`

const ITEM_COLUMNS = `id, message_id, mapping_id, action, payload, source, state, attempts, created_at, updated_at,
  next_attempt_at, lease_owner, lease_until, delivered_at, last_error, result, lookup_by`

/** Migrations of an existing file by target version; each runs once, in a transaction, on a file older
 * than it. (Version 1 created the tables; a file at version 0 gets CURRENT instead.) */
const MIGRATIONS: readonly (readonly [number, string])[] = [
  // 2: an item's lookupBy (JSON array; NULL: every identifier). Items stored before keep the default.
  [2, `ALTER TABLE items ADD COLUMN lookup_by TEXT;`],
  // 3: ids include the source, so (message_id, mapping_id) is no longer unique: two sources may use one
  // messageId. The table is rebuilt without that constraint (SQLite cannot drop it in place); every row
  // keeps its id, so an item already queued or written keeps its Qualtrics transaction key. Rows with a
  // source get legacy_id = 1: their id was derived without it, and `accept` still counts an item with
  // their (message_id, mapping_id, source) as their duplicate. Rows without a source keep ids equal to
  // what deriveItemId gives today (no source, the old form), so they need no marker.
  [
    3,
    `
    ${itemsTable('items_v3')}
    INSERT INTO items_v3 (${ITEM_COLUMNS}, legacy_id)
      SELECT ${ITEM_COLUMNS}, source IS NOT NULL FROM items;
    DROP TABLE items;
    ALTER TABLE items_v3 RENAME TO items;
    ${ITEM_INDEXES}
    `,
  ],
  // 4: the transactions that items delivered before report are theirs from the start.
  [
    4,
    `
    ${TRANSACTION_CLAIMS}
    INSERT INTO transaction_claims (directory_id, transaction_id, item_id, claimed_at)
      SELECT json_extract(payload, '$.directoryId'), json_extract(result, '$.transactionId'), id, updated_at
      FROM items
      WHERE state = 'delivered' AND json_type(payload, '$.directoryId') = 'text'
        AND json_type(result, '$.transactionId') = 'text'
      ORDER BY updated_at, id
    ON CONFLICT DO NOTHING;
    `,
  ],
]

/** Brings the file to SQLITE_SCHEMA_VERSION in one transaction; refuses a newer file. */
export function migrate(db: Database.Database): void {
  const run = db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number
    if (version > SQLITE_SCHEMA_VERSION) {
      throw new StoreError(
        `The SQLite database has schema version ${version}, newer than this code supports (${SQLITE_SCHEMA_VERSION}); upgrade qualtrics-relay`,
        { retryable: false },
      )
    }
    if (version === 0) {
      db.exec(CURRENT)
    } else {
      for (const [target, sql] of MIGRATIONS) if (target > version) db.exec(sql)
    }
    if (version < SQLITE_SCHEMA_VERSION) db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`)
  })
  run.immediate()
}
