// The engine through Qualtrics outages, on a virtual clock: the circuit opens when calls fail across
// the board, one request probes at a growing interval, items held back spend no attempts, and
// everything is delivered once when Qualtrics answers again — no dead letters, no replay.

import { describe, expect, it } from 'vitest'
import type { DeliveryItem } from '../../src/actions/payloads'
import { ConfigError } from '../../src/errors'
import { createCircuit } from '../../src/server/delivery/circuit'
import { createVirtualClock } from '../../src/server/delivery/clock'
import { createDeliveryEngine } from '../../src/server/delivery/engine'
import type { DeliveryEngineConfig, DeliveryLogger } from '../../src/server/delivery/options'
import { createMemoryStore } from '../../src/server/store/memory-store'
import {
  contactItem,
  createFakeQualtrics,
  http,
  networkError,
  timeout,
  transactionItem,
  workflowItem,
} from './fake-qualtrics'
import { record, settle } from './helpers'

const HOUR = 3_600_000

interface Line {
  level: keyof DeliveryLogger
  message: string
  fields: Record<string, unknown>
}

function captureLogger(): DeliveryLogger & { lines: Line[] } {
  const lines: Line[] = []
  const at =
    (level: keyof DeliveryLogger) =>
    (fields: Record<string, unknown>, message: string): void =>
      void lines.push({ level, message, fields })
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

function setup(options: Partial<DeliveryEngineConfig> = {}) {
  const clock = createVirtualClock()
  const client = createFakeQualtrics(clock)
  const store = createMemoryStore()
  const logger = captureLogger()
  const engine = createDeliveryEngine({ client, store, clock, logger, random: () => 0.5, ...options })
  return { clock, client, store, logger, engine }
}

/** 20 purchases of 10 users, 4 new contacts, 4 workflow starts: every endpoint the engine calls. */
function wave(tag: string): DeliveryItem[] {
  return [
    ...Array.from({ length: 20 }, (_, i) => transactionItem({ user: `${tag}-buyer-${i % 10}` })),
    ...Array.from({ length: 4 }, (_, i) => contactItem(`${tag}-new-${i}`)),
    ...Array.from({ length: 4 }, () => workflowItem()),
  ]
}

describe('a Qualtrics outage', () => {
  it('delivers every item once after 6 hours of 5xx, timeouts and network errors: no dead letters, no replay', async () => {
    const { clock, client, store, logger, engine } = setup()
    const events = record(engine, 'circuit', 'deadLettered', 'delivered')
    const start = clock.now()
    const end = start + 6 * HOUR
    client.outage = { until: end, errors: [http(503), timeout, networkError, http(502), http(500)] }
    engine.start()
    const sent: DeliveryItem[] = []
    // Items keep arriving: at the start, and 30 min, 1 h, 3 h and 5 h 55 min into the outage.
    for (const [n, at] of [0, 0.5, 1, 3, 5.9].entries()) {
      await clock.sleep(start + at * HOUR - clock.now())
      const items = wave(`w${n}`)
      await engine.enqueue(items)
      sent.push(...items)
    }
    while ((await store.counts()).delivered < sent.length && clock.now() < end + HOUR)
      await clock.sleep(1_000)
    await engine.stop()

    expect(events.deadLettered).toEqual([])
    expect(await store.counts()).toEqual({ pending: 0, leased: 0, delivered: sent.length, dead: 0 })
    // once each: every transaction key once, every new contact once, every workflow once
    const keys = client.transactions.map((t) => t.key)
    expect(keys).toHaveLength(100)
    expect(new Set(keys).size).toBe(100)
    const extRefs = client.contacts.map((c) => c.extRef)
    expect(new Set(extRefs).size).toBe(extRefs.length)
    expect(extRefs.filter((e) => e?.includes('-new-'))).toHaveLength(20)
    expect(client.workflowRuns).toHaveLength(20)
    expect(new Set(events.delivered.map((d) => d.item.id)).size).toBe(sent.length)

    // one open and one close for the whole outage, each with one log line
    const moves = events.circuit.map((c) => `${c.from}→${c.to}`)
    expect(moves.filter((m) => m === 'closed→open')).toHaveLength(1)
    expect(moves.filter((m) => m.endsWith('→closed'))).toHaveLength(1)
    const circuitLines = logger.lines.filter((l) => l.level !== 'debug' && /circuit/.test(l.message))
    expect(circuitLines.map((l) => [l.level, l.message])).toEqual([
      [
        'warn',
        'Qualtrics calls fail across the board (5xx, timeouts, network): circuit open, sending stopped; probing with one request',
      ],
      ['info', 'Qualtrics answers again: circuit closed, sending resumed'],
    ])
    const closed = events.circuit.find((c) => c.to === 'closed')!
    expect(closed.outageMs).toBeGreaterThanOrEqual(6 * HOUR - 60_000)

    // while open: one probe at a time, 5 s, 10 s, 20 s, … apart, then every 5 min
    const openedAt = events.circuit.find((c) => c.to === 'open')!.at
    const probes = client.calls.filter((c) => c.at > openedAt && c.at < end).map((c) => c.at)
    const gaps = probes.slice(1).map((t, i) => t - probes[i]!)
    // (a contact search starts on the next turn of the event loop, by which the virtual clock may
    // have moved on by the engine's 1 s poll: up to 1 s late)
    const expected = [10_000, 20_000, 40_000, 80_000, 160_000, ...gaps.slice(5).map(() => 300_000)]
    expect(gaps.map((g, i) => g - expected[i]!).every((late) => late >= 0 && late <= 1_000)).toBe(true)
    expect(probes.length).toBeLessThan(6 * 12 + 8)
    // back within one probe interval of Qualtrics' return
    expect(closed.at - end).toBeLessThanOrEqual(300_000)

    // held back items spent no attempts: only failures before the circuit opened counted
    const attempts = await Promise.all(sent.map(async (s) => (await engine.status(s.messageId))[0]!.attempts))
    expect(Math.max(...attempts)).toBeLessThanOrEqual(1)
  })

  it('counts the failures before the circuit opened as attempts, not the one that opened it nor those while open', async () => {
    const { client, store, engine, clock } = setup({ circuitFailureThreshold: 3, maxConcurrentRequests: 1 })
    client.outage = { until: clock.now() + 60_000, errors: [http(503)] }
    const items = Array.from({ length: 5 }, () => workflowItem())
    await engine.enqueue(items)
    await engine.flush()
    const attempts = await Promise.all(
      items.map(async (i) => (await engine.status(i.messageId))[0]!.attempts),
    )
    // one request at a time: the first two failures count, the third opens, the last two are held back
    expect(attempts.sort()).toEqual([0, 0, 0, 1, 1])
    expect(client.count('triggerWorkflow')).toBe(3)
    expect(await engine.circuitState()).toMatchObject({ state: 'open', failedProbes: 0 })
    await settle(engine, store, clock)
    expect(client.workflowRuns).toHaveLength(5)
    expect((await engine.circuitState()).state).toBe('closed')
  })

  it('never opens on refusals (4xx) or rate limits (429): those items follow their own rules', async () => {
    const { client, store, engine, clock } = setup({ circuitFailureThreshold: 2 })
    const events = record(engine, 'circuit', 'deadLettered')
    client.failNext('triggerWorkflow', http(400), { times: 4 })
    client.failNext('createDirectoryContact', http(429, 1_000), { times: 6 })
    await engine.enqueue([...Array.from({ length: 4 }, () => workflowItem()), contactItem('r1')])
    await settle(engine, store, clock)
    expect(events.circuit).toEqual([])
    expect(events.deadLettered.map((d) => d.error.status)).toEqual([400, 400, 400, 400])
    expect(client.contacts).toHaveLength(1)
  })

  it('lets an item that alone fails with 5xx, among answered calls, die by maxAttempts', async () => {
    const { client, store, engine, clock } = setup({ circuitFailureThreshold: 3, maxAttempts: 6 })
    const events = record(engine, 'circuit')
    const poisoned = 'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=poison'
    const trigger = client.triggerWorkflow.bind(client)
    client.triggerWorkflow = async (url, payload) => {
      if (url === poisoned) throw http(500)()
      return trigger(url, payload)
    }
    const poison = workflowItem(poisoned)
    await engine.enqueue([poison])
    for (let round = 0; round < 10; round++) {
      await engine.enqueue([workflowItem()]) // other traffic, answered, between its retries
      await engine.flush()
      const next = await store.nextDueAt()
      if (next === undefined) break
      clock.advanceTo(next)
    }
    const [status] = await engine.status(poison.messageId)
    expect(status).toMatchObject({ state: 'dead', attempts: 6 })
    expect(events.circuit).toEqual([])
  })

  it('opens and closes one circuit shared by two engines: one engine’s failures hold the other back', async () => {
    const clock = createVirtualClock()
    const client = createFakeQualtrics(clock)
    const circuit = createCircuit({ failureThreshold: 2, probeBaseMs: 5_000 })
    const storeA = createMemoryStore()
    const storeB = createMemoryStore()
    const a = createDeliveryEngine({ client, store: storeA, clock, circuit, random: () => 0.5 })
    const b = createDeliveryEngine({ client, store: storeB, clock, circuit, random: () => 0.5 })
    client.outage = { until: clock.now() + 1_000, errors: [networkError] }
    await a.enqueue([workflowItem(), workflowItem()])
    await a.flush()
    expect((await b.circuitState()).state).toBe('open')
    const before = client.calls.length
    await b.enqueue([workflowItem()])
    await b.flush()
    expect(client.calls.length).toBe(before) // B sent nothing while the circuit was open
    clock.advance(5_000)
    await b.flush() // B's item is the probe; Qualtrics is back
    expect((await a.circuitState()).state).toBe('closed')
    await settle(a, storeA, clock)
    expect(client.workflowRuns).toHaveLength(3)
    expect((await storeA.counts()).dead + (await storeB.counts()).dead).toBe(0)
  })

  it('lists bad circuit options with the rest', () => {
    const clock = createVirtualClock()
    expect(() =>
      createDeliveryEngine({
        client: createFakeQualtrics(clock),
        store: createMemoryStore(),
        clock,
        circuitFailureThreshold: 0,
        circuitProbeBaseMs: -5,
        circuit: { acquire: () => undefined } as never,
      }),
    ).toThrow(ConfigError)
    expect(() =>
      createDeliveryEngine({
        client: createFakeQualtrics(clock),
        store: createMemoryStore(),
        clock,
        circuitFailureThreshold: 0,
        circuitProbeBaseMs: -5,
        circuit: { acquire: () => undefined } as never,
      }),
    ).toThrowErrorMatchingInlineSnapshot(`
      [ConfigError: Invalid delivery engine options
        - circuit: must be a circuit (createCircuit): acquire, recordSuccess, recordFailure and snapshot (Received: {})
        - circuitFailureThreshold: must be an integer >= 1 (Received: 0)
        - circuitProbeBaseMs: must be a number >= 1 (Received: -5)]
    `)
  })
})
