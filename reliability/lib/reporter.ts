// A vitest reporter that collects what each check measured (its figures and notes), merges it into
// reliability/results.json and renders RELIABILITY.md. It runs before the default reporter's summary,
// so the summary stays the last thing printed (it prints nothing itself).
import { cpus, totalmem } from 'node:os'
import { readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import type { Reporter, TestModule, Vitest } from 'vitest/node'
import { figuresOf, notesOf } from './figures'
import { PARTS, renderReliability } from './render'
import { readResults, writeFormatted, type CheckResult, type Machine, type SectionResult } from './results'

const COMMAND = 'pnpm test:reliability'

function machine(): Machine {
  const list = cpus()
  return {
    cpus: list.length,
    cpuModel: (list[0]?.model ?? 'unknown CPU').replace(/\s+/g, ' ').trim(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
  }
}

/** The file's leading `//` comment, as one paragraph. */
function descriptionOf(path: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return ''
  }
  const lines: string[] = []
  for (const line of text.split('\n')) {
    if (!line.startsWith('//')) break
    lines.push(line.replace(/^\/\/ ?/, ''))
  }
  return lines.join(' ').trim()
}

export class ReliabilityReporter implements Reporter {
  private root = process.cwd()
  private startedAt = Date.now()

  onInit(vitest: Vitest): void {
    this.root = vitest.config.root
  }

  onTestRunStart(): void {
    this.startedAt = Date.now()
  }

  async onTestRunEnd(modules: ReadonlyArray<TestModule>): Promise<void> {
    const resultsPath = join(this.root, 'reliability/results.json')
    const results = readResults(resultsPath)
    const now = new Date().toISOString()
    const box = machine()
    let allPassed = true
    for (const module of modules) {
      const file = relative(this.root, module.moduleId)
      const checks: CheckResult[] = []
      for (const test of module.children.allTests()) {
        const state = test.result().state
        if (state === 'failed') allPassed = false
        checks.push({
          name: test.name,
          state: state === 'pending' ? 'skipped' : state,
          expectedFailure: test.options.fails === true,
          durationMs: Math.round(test.diagnostic()?.duration ?? 0),
          figures: figuresOf(test.meta()),
          notes: notesOf(test.meta()),
        })
      }
      if (module.state() === 'failed' && checks.every((c) => c.state !== 'failed')) allPassed = false
      // A check skipped by a filter (-t) keeps what its last real run measured.
      const previous = results.sections[file]?.checks ?? []
      for (const [i, check] of checks.entries()) {
        const before = previous.find((p) => p.name === check.name)
        if (check.state === 'skipped' && before !== undefined && before.state !== 'skipped')
          checks[i] = before
      }
      const section: SectionResult = {
        file,
        description: descriptionOf(module.moduleId),
        command: `${COMMAND} ${file}`,
        ranAt: now,
        durationSeconds: Math.round((module.diagnostic().duration ?? 0) / 100) / 10,
        machine: box,
        checks,
      }
      results.sections[file] = section
    }
    const files = new Set(modules.map((m) => relative(this.root, m.moduleId)))
    const ranEverything = PARTS.every((p) => files.has(p.file))
    if (ranEverything) {
      results.fullRun = {
        at: now,
        durationSeconds: Math.round((Date.now() - this.startedAt) / 1000),
        passed: allPassed,
        command: COMMAND,
      }
    }
    await writeFormatted(resultsPath, JSON.stringify(results), 'json')
    await writeFormatted(join(this.root, 'RELIABILITY.md'), renderReliability(results), 'markdown')
  }
}

// vitest loads reporters named by path through their default export (like a config file).
export default ReliabilityReporter
