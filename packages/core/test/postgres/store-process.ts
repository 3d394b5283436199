// A separate process on the PostgreSQL store, for the race tests: waits for "go" on stdin, then opens
// the store (running migrations) and, with MODE=claim, claims until nothing is left, settling as it
// goes. Prints one JSON line: the ids it leased.

import { createInterface } from 'node:readline'
import { createPostgresStore } from '../../src/postgres/index'

const url = process.env['STORE_URL'] ?? ''
const schema = process.env['STORE_SCHEMA'] ?? ''
const owner = process.env['STORE_OWNER'] ?? ''
const mode = process.env['MODE'] ?? 'open'

const lines = createInterface({ input: process.stdin })
process.stdout.write('ready\n')
await new Promise<void>((resolve) => lines.once('line', () => resolve()))
lines.close()

const store = await createPostgresStore({ url, schema, poolSize: 4 })
const leased: string[] = []
if (mode === 'claim') {
  for (;;) {
    const claimed = await store.claim({ now: Date.now(), limit: 7, leaseMs: 600_000, owner })
    if (claimed.length === 0) break
    leased.push(...claimed.map((c) => c.id))
    await Promise.all(claimed.map((c) => store.markDelivered(c.id, owner, Date.now())))
  }
}
await store.close()
process.stdout.write(`${JSON.stringify({ owner, leased })}\n`)
