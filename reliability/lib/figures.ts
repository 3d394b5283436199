// Figures a check measured (counts, rates, memory, latencies). A test records them on its own task
// (`task.meta.figures`); the suite's reporter collects them into reliability/results.json and
// RELIABILITY.md, next to the command that reproduces them.

export type FigureValue = number | string | boolean

export interface Figure {
  /** Stable machine name, e.g. `kills`. */
  key: string
  /** What it is, in words. */
  label: string
  value: FigureValue
  /** Unit shown after the value (`ms`, `MB`, `items/s`, …). */
  unit?: string
}

interface WithMeta {
  meta: object
}

/** Records one figure on a test (call it with the test context's `task`). */
export function figure(task: WithMeta, key: string, label: string, value: FigureValue, unit?: string): void {
  const meta = task.meta as { figures?: Figure[] }
  const list = (meta.figures ??= [])
  const entry: Figure = { key, label, value: typeof value === 'number' ? round(value) : value }
  if (unit !== undefined) entry.unit = unit
  const index = list.findIndex((f) => f.key === key)
  if (index >= 0) list[index] = entry
  else list.push(entry)
}

/** Reads the figures a test recorded (for the reporter). */
export function figuresOf(meta: object): Figure[] {
  const figures = (meta as { figures?: unknown }).figures
  return Array.isArray(figures) ? (figures as Figure[]) : []
}

function round(value: number): number {
  if (!Number.isFinite(value) || Number.isInteger(value)) return value
  return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 100) / 100
}

/** Records a sentence about a test for RELIABILITY.md (a known bug, a limit, how a figure is read). */
export function note(task: WithMeta, text: string): void {
  const meta = task.meta as { notes?: string[] }
  const list = (meta.notes ??= [])
  if (!list.includes(text)) list.push(text)
}

/** Reads the notes a test recorded. */
export function notesOf(meta: object): string[] {
  const notes = (meta as { notes?: unknown }).notes
  return Array.isArray(notes) ? (notes as string[]) : []
}
