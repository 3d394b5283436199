// reliability/results.json: what the last run of each part of the suite measured. The reporter writes
// it after every run (parts not run keep their previous figures) and renders RELIABILITY.md from it.
import { readFileSync, writeFileSync } from 'node:fs'
import { format, resolveConfig } from 'prettier'
import type { Figure } from './figures'

export interface CheckResult {
  name: string
  /** `passed`, `failed` or `skipped`; for an expected failure (`it.fails`) `passed` means it failed as expected. */
  state: string
  /** Marked `it.fails`: a known bug, expected to fail until it is fixed. */
  expectedFailure: boolean
  durationMs: number
  figures: Figure[]
  notes: string[]
}

export interface SectionResult {
  /** The test file, relative to the repository root. */
  file: string
  /** The file's leading comment: what the part does. */
  description: string
  /** The command that reproduces this part's figures. */
  command: string
  ranAt: string
  durationSeconds: number
  machine: Machine
  checks: CheckResult[]
}

export interface Machine {
  cpus: number
  cpuModel: string
  memoryGiB: number
  node: string
  platform: string
}

export interface Results {
  /** The last run of the whole suite. */
  fullRun?: { at: string; durationSeconds: number; passed: boolean; command: string }
  sections: Record<string, SectionResult>
}

export function readResults(path: string): Results {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<Results>
    return { ...parsed, sections: parsed.sections ?? {} }
  } catch {
    return { sections: {} }
  }
}

/** Writes `text` formatted the way the repository's Prettier config formats it (so lint stays clean). */
export async function writeFormatted(path: string, text: string, parser: 'json' | 'markdown'): Promise<void> {
  const options = (await resolveConfig(path)) ?? {}
  writeFileSync(path, await format(text, { ...options, parser }))
}
