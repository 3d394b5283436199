// `pnpm bench`: runs every benchmark and writes BENCHMARKS.md. Bounded: each part stops by itself.
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { runBrowserPluginBench } from './browser-plugin'
import { runCoreBench } from './core'
import { runFleetBench } from './fleet'
import type { BenchSection } from './lib'
import { runNodePluginBench } from './node-plugin'
import { runProxyBench } from './proxy'
import { runStoreBench } from './store'

const parts: [string, () => Promise<BenchSection[]>][] = [
  ['core', runCoreBench],
  ['browser-plugin', runBrowserPluginBench],
  ['proxy', runProxyBench],
  ['store', runStoreBench],
  ['node-plugin', runNodePluginBench],
  ['fleet', runFleetBench],
]

const only = process.argv.slice(2)
const sections: BenchSection[] = []
for (const [name, run] of parts) {
  if (only.length && !only.includes(name)) continue
  process.stdout.write(`bench: ${name}…\n`)
  sections.push(...(await run()))
}

const header = [
  '# Benchmarks',
  '',
  `Written by \`pnpm bench\` on ${new Date().toISOString().slice(0, 10)}: Node ${process.version}, ` +
    `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}.`,
  'Absolute numbers on these shared machines are noisy; each figure stands beside a baseline measured in',
  'the same run, and the ratio is what to read. Run `pnpm bench <part>` for one part.',
  '',
]
const body = sections.map((s) => `## ${s.title}\n\nReproduce: \`${s.command}\`\n\n${s.markdown}\n`)
const text = [...header, ...body].join('\n')
if (only.length === 0) writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), text)
process.stdout.write(`${text}\n`)
