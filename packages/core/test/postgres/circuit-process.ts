// A separate process with one Qualtrics circuit, for the fleet tests: the PostgreSQL store's shared
// circuit (CIRCUIT=shared) or its own in memory (CIRCUIT=memory, the control). Answers one JSON line per
// command line on stdin: `{ id, op: 'acquire' | 'success' | 'failure' | 'snapshot', now, permit? }`.

import { createInterface } from 'node:readline'
import { createCircuit, type Circuit, type CircuitPermit } from '../../src/server/delivery/circuit'
import { createPostgresStore } from '../../src/postgres/index'

interface Command {
  id: number
  op: 'acquire' | 'success' | 'failure' | 'snapshot'
  now: number
  permit?: CircuitPermit
}

const env = (key: string) => process.env[key] ?? ''
const store = await createPostgresStore({ url: env('STORE_URL'), schema: env('STORE_SCHEMA'), poolSize: 2 })
const options = JSON.parse(env('CIRCUIT_OPTIONS')) as Parameters<typeof createCircuit>[0]
const circuit: Circuit = env('CIRCUIT') === 'memory' ? createCircuit(options) : store.createCircuit(options)

function run(c: Command): Promise<unknown> {
  const permit = c.permit ?? { kind: 'send' }
  if (c.op === 'acquire') return circuit.acquire(c.now)
  if (c.op === 'success') return circuit.recordSuccess(c.now, permit)
  if (c.op === 'failure') return circuit.recordFailure(c.now, permit)
  return circuit.snapshot(c.now)
}

process.stdout.write('ready\n')
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as Command
  process.stdout.write(`${JSON.stringify({ id: command.id, answer: await run(command) })}\n`)
}
await store.close()
