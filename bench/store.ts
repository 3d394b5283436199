// `pnpm bench store`: what `synchronous = FULL` (an fsync of the WAL per commit, the default) costs
// against `NORMAL` when accepting items into the SQLite store, measured in the same run on the same
// disk. Batches of 20 items as the proxy stores them, with 1 and 16 batches in flight (the store
// gathers the writes issued in one turn of the event loop into one commit, so concurrency is what
// amortises the fsync).
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { deriveItemId, type NewItem } from '@qualtrics-relay/core/server'
import { createSqliteStore } from '@qualtrics-relay/core/sqlite'
import { fmt, percentile, type BenchSection } from './lib'

type Mode = 'full' | 'normal'

interface Round {
  itemsPerSecond: number
  p50: number
  p99: number
}

const BATCH = 20

function batch(round: string, b: number): NewItem[] {
  return Array.from({ length: BATCH }, (_, i) => {
    const messageId = `${round}-${b}-${i}`
    return {
      id: deriveItemId({ source: 'bench', messageId, mappingId: 'purchase' }),
      messageId,
      mappingId: 'purchase',
      source: 'bench',
      action: 'upsertContactTransaction',
      payload: {
        directoryId: 'POOL_bench',
        mailingListId: 'CG_bench',
        extRef: `user-${b}-${i}`,
        transactionDate: '2026-01-01T00:00:00Z',
        transactionData: { orderId: messageId, total: 42, currency: 'EUR' },
      },
    } as NewItem
  })
}

async function round(
  dir: string,
  mode: Mode,
  name: string,
  batches: number,
  inFlight: number,
): Promise<Round> {
  const store = createSqliteStore({ path: join(dir, `${name}.db`), synchronous: mode })
  const latencies: number[] = []
  let next = 0
  const start = performance.now()
  const worker = async () => {
    while (next < batches) {
      const items = batch(name, next++)
      const t = performance.now()
      await store.accept(items, Date.now())
      latencies.push(performance.now() - t)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  const seconds = (performance.now() - start) / 1000
  await store.close()
  latencies.sort((a, b) => a - b)
  return {
    itemsPerSecond: (batches * BATCH) / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  }
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number

export async function runStoreBench(): Promise<BenchSection[]> {
  // Next to the repository, not in a RAM-backed tmp: the point is the disk's fsync.
  const dir = mkdtempSync(join(import.meta.dirname, '.store-bench-'))
  try {
    const rows: string[] = []
    const ratios: string[] = []
    for (const [inFlight, batches] of [
      [1, 300],
      [16, 1500],
    ] as const) {
      await round(dir, 'normal', `warm-${inFlight}`, 100, inFlight)
      const results: Record<Mode, Round[]> = { normal: [], full: [] }
      // Alternating rounds, medians: the shared disk's latency swings from round to round.
      for (let r = 0; r < 3; r++) {
        for (const mode of ['normal', 'full'] as const) {
          results[mode].push(await round(dir, mode, `${mode}-${inFlight}-${r}`, batches, inFlight))
        }
      }
      for (const mode of ['normal', 'full'] as const) {
        const rs = results[mode]
        rows.push(
          `| ${inFlight} | \`${mode.toUpperCase()}\` | ${fmt(median(rs.map((x) => x.itemsPerSecond)))} | ${fmt(median(rs.map((x) => x.p50)), 2)} ms | ${fmt(median(rs.map((x) => x.p99)), 2)} ms |`,
        )
      }
      const perRound = results.full.map((f, i) => f.itemsPerSecond / results.normal[i]!.itemsPerSecond)
      ratios.push(
        `${inFlight} in flight: **${median(perRound).toFixed(2)}×** (${perRound.map((x) => x.toFixed(2)).join(', ')})`,
      )
    }
    const markdown = [
      `Batches of ${BATCH} transaction items accepted by the SQLite store (WAL) on a fresh file next to the`,
      'repository (the same disk a proxy would use), with 1 batch in flight (every batch its own commit) and',
      'with 16 (the store commits the writes issued together in one transaction). One warm-up round, then',
      'three alternating rounds of each mode; medians. Latency is one `accept` call.',
      '',
      '| in flight | synchronous | items/s | p50 | p99 |',
      '|---|---|---|---|---|',
      ...rows,
      '',
      `FULL's throughput as a share of NORMAL's, per round: ${ratios.join('; ')}.`,
      '',
      '`FULL` (the default) fsyncs the WAL at every commit, so each 202 the proxy answers is on disk and',
      'survives a power loss or host crash. `NORMAL` leaves that to checkpoints: still safe when the process',
      'crashes, but a power loss can lose the last commits, already answered 202.',
    ].join('\n')
    return [{ title: 'Store: ingest with synchronous FULL vs NORMAL', command: 'pnpm bench store', markdown }]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
