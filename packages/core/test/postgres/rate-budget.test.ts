// One brand-wide rate budget for a fleet: three processes share one bucket row. Checked from the grant
// times (the database's clock): over every window, granted − rate × Δt ≤ burst; the fleet still gets
// ≥ 95 % of what the limit allows; and a 429 reported by one process pauses and slows all three.

import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createTestDatabase } from '../../../../test-support/postgres'
import { createPostgresStore } from '../../src/postgres/index'

const db = await createTestDatabase()
const SCRIPT = fileURLToPath(new URL('./rate-budget-process.ts', import.meta.url))
const PER_MINUTE = 6000 // 100 per second
const PER_MS = PER_MINUTE / 60_000
const BURST = 10

interface Grant {
  granted: number
  at: number
  process: number
}

async function runFleet(schema: string, env: (i: number) => Record<string, string>): Promise<Grant[]> {
  await (await createPostgresStore({ url: db.url, schema })).close()
  const children = [0, 1, 2].map((i) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
      env: {
        ...process.env,
        STORE_URL: db.url,
        STORE_SCHEMA: schema,
        PER_MINUTE: String(PER_MINUTE),
        BURST: String(BURST),
        CONCURRENCY: '4',
        ...env(i),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const lines = createInterface({ input: child.stdout })
    const ready = new Promise<void>((resolve) => lines.once('line', () => resolve()))
    const report = new Promise<Grant[]>((resolve, reject) => {
      lines.on('line', (line) => {
        if (!line.startsWith('{')) return
        const { grants } = JSON.parse(line) as { grants: Omit<Grant, 'process'>[] }
        resolve(grants.map((g) => ({ ...g, process: i })))
      })
      child.once('exit', (code) => reject(new Error(`budget process ${i} exited ${code}: ${stderr}`)))
    })
    return { child, ready, report }
  })
  await Promise.all(children.map((c) => c.ready))
  for (const { child } of children) child.stdin.end('go\n')
  const all = (await Promise.all(children.map((c) => c.report))).flat()
  return all.sort((a, b) => a.at - b.at)
}

/** The largest excess over every window of grants: max over i ≤ j of granted(i..j) − rate × (t_j − t_i). */
function worstExcess(grants: readonly Grant[]): number {
  let worst = 0
  for (let i = 0; i < grants.length; i++) {
    let sum = 0
    for (let j = i; j < grants.length; j++) {
      sum += grants[j]!.granted
      worst = Math.max(worst, sum - PER_MS * (grants[j]!.at - grants[i]!.at))
    }
  }
  return worst
}

const total = (grants: readonly Grant[]) => grants.reduce((n, g) => n + g.granted, 0)

describe('a rate budget shared by three processes', () => {
  it('never grants more than the limit over any window, and grants ≥ 95 % of what it allows', async () => {
    const grants = await runFleet('budget_bound', () => ({ DURATION_MS: '2000' }))
    expect(new Set(grants.map((g) => g.process))).toEqual(new Set([0, 1, 2]))
    expect(worstExcess(grants)).toBeLessThanOrEqual(BURST + 1e-6)
    const span = grants.at(-1)!.at - grants[0]!.at
    expect(total(grants)).toBeGreaterThanOrEqual(0.95 * (BURST + PER_MS * span))
  })

  it('has teeth: three processes with a bucket each (the limit per process) break the bound', async () => {
    const grants = await runFleet('budget_apart', (i) => ({ DURATION_MS: '2000', BUDGET_NAME: `own-${i}` }))
    expect(worstExcess(grants)).toBeGreaterThan(BURST + PER_MS * 1000)
  })

  it('pauses all three and halves their rate when one of them sees a 429', async () => {
    const pauseMs = 400
    const grants = await runFleet('budget_429', (i) => ({
      DURATION_MS: '2600',
      ...(i === 0 ? { RATE_LIMITED_AT_MS: '1000', PAUSE_MS: String(pauseMs) } : {}),
    }))
    // The pause: the longest silence of the whole fleet.
    let gapAt = 0
    let gap = 0
    for (let i = 1; i < grants.length; i++) {
      const d = grants[i]!.at - grants[i - 1]!.at
      if (d > gap) [gap, gapAt] = [d, grants[i]!.at]
    }
    expect(gap).toBeGreaterThanOrEqual(pauseMs - 1)
    // The second after it: half the rate (plus the climb back over 60 s), for every process.
    const window = Math.min(1000, grants.at(-1)!.at - gapAt)
    const after = grants.filter((g) => g.at >= gapAt && g.at < gapAt + window)
    expect(window).toBeGreaterThan(500)
    expect(total(after)).toBeLessThanOrEqual(PER_MS * window * (0.5 + 1 / 60) + 1)
    expect(new Set(after.map((g) => g.process))).toEqual(new Set([0, 1, 2]))
    expect(worstExcess(grants)).toBeLessThanOrEqual(BURST + 1e-6)
  })
})
