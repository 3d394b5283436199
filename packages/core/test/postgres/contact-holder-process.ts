// A process that takes a user's contact lock and is killed during its create: it resolves one
// transaction item with shared key locks (lease LEASE_MS); the test SIGKILLs it once it has searched.

import { createDeliveryEngine } from '../../src/server/delivery/engine'
import { createQualtricsClient } from '../../src/server/qualtrics'
import { createPostgresStore } from '../../src/postgres/index'

const env = (key: string) => process.env[key] ?? ''
const store = await createPostgresStore({ url: env('STORE_URL'), schema: env('STORE_SCHEMA') })
const engine = createDeliveryEngine({
  client: createQualtricsClient({ apiToken: env('SB_TOKEN'), baseUrl: env('SB_URL') }),
  store,
  transactionLingerMs: 5,
  contactLocks: store.createKeyLocks({ leaseMs: Number(env('LEASE_MS')) }),
})
await engine.enqueue([JSON.parse(env('ITEM')) as never])
await engine.flush()
process.stdout.write('done\n')
