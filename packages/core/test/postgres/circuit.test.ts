// The Qualtrics circuit shared on PostgreSQL: the circuit's behaviour suite on one row, then what only a
// shared circuit has: three processes on one row (one's failures open it for the others, the opening
// reported once, exactly one probe when all ask at once, a killed prober's probe taken over after its
// lease, one success closing it for all; with circuits per process none of that holds), several
// circuits of one process racing for the probe, and a database that is away. Two engines through an
// outage on it: engine-on-postgres.test.ts.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../../../../test-support/postgres'
import type { CircuitPermit, CircuitTransition } from '../../src/server/delivery/circuit'
import { createPostgresStore, type PostgresStore } from '../../src/postgres/index'
import { describeCircuitContract } from '../delivery/circuit-contract'

const db = await createTestDatabase()
let store: PostgresStore
beforeAll(async () => {
  store = await createPostgresStore({ url: db.url, schema: 'circuits' })
})
afterAll(() => store.close())

let rows = 0
describeCircuitContract('the PostgreSQL circuit', (options) =>
  store.createCircuit({ ...options, name: `contract-${++rows}` }),
)

const SEND = { kind: 'send' } as const
const PROBE = { kind: 'probe' } as const
const OPTIONS = { failureThreshold: 3, probeBaseMs: 1_000, probeLeaseMs: 30_000 }

// ---- three processes on one circuit ----

const SCRIPT = fileURLToPath(new URL('./circuit-process.ts', import.meta.url))

interface Answer {
  permit?: CircuitPermit
  transition?: CircuitTransition
  snapshot?: { state: string }
  state?: string
}

interface Instance {
  ask(
    op: 'acquire' | 'success' | 'failure' | 'snapshot',
    now: number,
    permit?: CircuitPermit,
  ): Promise<Answer>
  kill(): Promise<void>
  child: ChildProcessWithoutNullStreams
}

async function startInstance(schema: string, kind: 'shared' | 'memory'): Promise<Instance> {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    env: {
      ...process.env,
      STORE_URL: db.url,
      STORE_SCHEMA: schema,
      CIRCUIT: kind,
      CIRCUIT_OPTIONS: JSON.stringify(OPTIONS),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const waiting = new Map<number, (answer: Answer) => void>()
  const lines = createInterface({ input: child.stdout })
  await new Promise<void>((resolve, reject) => {
    lines.once('line', () => resolve())
    child.once('exit', (code) => reject(new Error(`circuit process exited ${code}: ${stderr}`)))
  })
  lines.on('line', (line) => {
    const { id, answer } = JSON.parse(line) as { id: number; answer: Answer }
    waiting.get(id)?.(answer)
    waiting.delete(id)
  })
  let next = 0
  return {
    child,
    ask(op, now, permit) {
      const id = ++next
      child.stdin.write(`${JSON.stringify({ id, op, now, permit })}\n`)
      return new Promise((resolve) => waiting.set(id, resolve))
    },
    async kill() {
      child.kill('SIGKILL')
      await exited
    },
  }
}

async function startFleet(schema: string, kind: 'shared' | 'memory'): Promise<Instance[]> {
  await (await createPostgresStore({ url: db.url, schema })).close() // migrated before they start
  return Promise.all([0, 1, 2].map(() => startInstance(schema, kind)))
}

const stopFleet = (fleet: readonly Instance[]) =>
  Promise.all(
    fleet.map(async (p) => {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.stdin.end()
        await new Promise((resolve) => p.child.once('exit', resolve))
      }
    }),
  )

const transitions = (answers: readonly Answer[]) =>
  answers.flatMap((a) => (a.transition ? [`${a.transition.from}→${a.transition.to}`] : []))

/** One process reports three outage failures; then the other two report late failures of their own. */
async function openByOne(fleet: readonly Instance[], t0: number): Promise<Answer[]> {
  const [p0, p1, p2] = fleet as [Instance, Instance, Instance]
  const answers: Answer[] = []
  for (let i = 0; i < 3; i++) answers.push(await p0.ask('failure', t0 + i))
  for (const p of [p1, p2]) for (let i = 0; i < 3; i++) answers.push(await p.ask('failure', t0 + 10 + i))
  return answers
}

describe('one circuit shared by three processes', () => {
  it('opens for all on one process’s failures and reports the opening once, to that process', async () => {
    const fleet = await startFleet('fleet_opens', 'shared')
    try {
      const t0 = Date.now()
      const reports = await openByOne(fleet, t0)
      expect(transitions(reports)).toEqual(['closed→open'])
      expect(reports[2]!.transition).toMatchObject({ from: 'closed', to: 'open', at: t0 + 2 })
      const asked = await Promise.all(fleet.map((p) => p.ask('acquire', t0 + 20)))
      expect(asked.map((a) => a.permit)).toEqual(Array(3).fill({ kind: 'wait', until: t0 + 2 + 1_000 }))
    } finally {
      await stopFleet(fleet)
    }
  })

  it('grants one probe when all three ask at once, hands a killed prober’s probe on after its lease, and one success closes it for all', async () => {
    const fleet = await startFleet('fleet_probes', 'shared')
    try {
      const t0 = Date.now()
      await openByOne(fleet, t0)
      const due = t0 + 2 + 1_000

      const first = await Promise.all(fleet.map((p) => p.ask('acquire', due)))
      const probers = fleet.filter((_, i) => first[i]!.permit?.kind === 'probe')
      expect(probers).toHaveLength(1)
      expect(transitions(first)).toEqual(['open→probing'])
      const others = fleet.filter((p) => !probers.includes(p))
      expect(first.filter((a) => a.permit?.kind === 'wait').map((a) => a.permit)).toEqual(
        Array(2).fill({ kind: 'wait', until: due + OPTIONS.probeLeaseMs }),
      )

      // The prober dies with its probe out: nobody probes until the lease ends, then exactly one does.
      await probers[0]!.kill()
      const early = await Promise.all(others.map((p) => p.ask('acquire', due + OPTIONS.probeLeaseMs - 1)))
      expect(early.map((a) => a.permit?.kind)).toEqual(['wait', 'wait'])
      const after = due + OPTIONS.probeLeaseMs
      const second = await Promise.all(others.map((p) => p.ask('acquire', after)))
      expect(second.map((a) => a.permit?.kind).sort()).toEqual(['probe', 'wait'])
      expect(transitions(second)).toEqual([]) // still probing: a new probe, not a new state

      // The new prober's answer closes the circuit for the other process too.
      const prober = others[second.findIndex((a) => a.permit?.kind === 'probe')]!
      const bystander = others.find((p) => p !== prober)!
      const closed = await prober.ask('success', after + 5, PROBE)
      expect(closed.transition).toMatchObject({ from: 'probing', to: 'closed', openedAt: t0 + 2 })
      expect(await bystander.ask('snapshot', after + 6)).toMatchObject({ state: 'closed' })
      expect((await bystander.ask('acquire', after + 6)).permit).toEqual(SEND)
    } finally {
      await stopFleet(fleet)
    }
  })

  it('has teeth: with a circuit per process, the others keep sending, each opens on its own, and all probe', async () => {
    const fleet = await startFleet('fleet_control', 'memory')
    try {
      const t0 = Date.now()
      const [p0, p1, p2] = fleet as [Instance, Instance, Instance]
      for (let i = 0; i < 3; i++) await p0.ask('failure', t0 + i)
      const asked = await Promise.all([p1, p2].map((p) => p.ask('acquire', t0 + 20)))
      expect(asked.map((a) => a.permit)).toEqual([SEND, SEND])
      const reports = await openByOne(fleet, t0 + 100)
      expect(transitions(reports)).toEqual(['closed→open', 'closed→open'])
      const probes = await Promise.all(fleet.map((p) => p.ask('acquire', t0 + 10_000)))
      expect(probes.filter((a) => a.permit?.kind === 'probe')).toHaveLength(3)
    } finally {
      await stopFleet(fleet)
    }
  })
})

// ---- in one process ----

describe('the PostgreSQL circuit', () => {
  it('grants one probe to twenty circuits of one row asking at once', async () => {
    const stores = await Promise.all(
      [0, 1].map(() => createPostgresStore({ url: db.url, schema: 'circuits' })),
    )
    try {
      const circuits = Array.from({ length: 20 }, (_, i) =>
        stores[i % 2]!.createCircuit({ ...OPTIONS, name: 'crowd' }),
      )
      for (let i = 0; i < 3; i++) await circuits[0]!.recordFailure(1_000, SEND)
      const asked = await Promise.all(circuits.map((c) => c.acquire(2_000)))
      expect(asked.filter((a) => a.permit.kind === 'probe')).toHaveLength(1)
      expect(asked.filter((a) => a.transition !== undefined)).toHaveLength(1)
    } finally {
      await Promise.all(stores.map((s) => s.close()))
    }
  })

  it('sees another instance’s opening within refreshMs, and at once with refreshMs 0', async () => {
    const a = store.createCircuit({ ...OPTIONS, name: 'refresh' })
    const cached = store.createCircuit({ ...OPTIONS, name: 'refresh', refreshMs: 1_000 })
    const uncached = store.createCircuit({ ...OPTIONS, name: 'refresh', refreshMs: 0 })
    expect((await cached.acquire(10_000)).permit).toEqual(SEND)
    for (let i = 0; i < 3; i++) await a.recordFailure(10_100, SEND)
    expect((await uncached.acquire(10_200)).permit).toEqual({ kind: 'wait', until: 11_100 })
    expect((await cached.acquire(10_999)).permit).toEqual(SEND) // read 999 ms ago: not read again
    expect((await cached.acquire(11_000)).permit).toEqual({ kind: 'wait', until: 11_100 })
  })

  it('fails no request while the database is away: sends as it last stood, drops reports', async () => {
    const away = await createPostgresStore({ url: db.url, schema: 'circuits' })
    const circuit = away.createCircuit({ ...OPTIONS, name: 'away' })
    expect((await circuit.acquire(1_000)).permit).toEqual(SEND)
    await away.close()
    expect((await circuit.acquire(2_000)).permit).toEqual(SEND)
    expect(await circuit.recordFailure(2_000, SEND)).toEqual({
      snapshot: { state: 'closed', failures: 0, failedProbes: 0 },
    })
    expect(await circuit.recordSuccess(2_000, SEND)).toEqual({
      snapshot: { state: 'closed', failures: 0, failedProbes: 0 },
    })
    expect(await circuit.snapshot(2_000)).toEqual({ state: 'closed', failures: 0, failedProbes: 0 })
  })

  it('lists every bad option with what it received', () => {
    expect(() =>
      store.createCircuit({ name: '', refreshMs: -1, failureThreshold: 0, probeMaxMs: 'soon' as never }),
    ).toThrowErrorMatchingInlineSnapshot(`
      [ConfigError: Invalid PostgreSQL circuit options
        - failureThreshold: must be an integer >= 1 (Received: 0)
        - probeMaxMs: must be a number >= 1 (Received: "soon")
        - name: must be a non-empty string (Received: "")
        - refreshMs: must be a number >= 0 (Received: -1)]
    `)
  })
})
