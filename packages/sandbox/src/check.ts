// Tiny validation helpers: collect every issue with its path and the received value, then fail once.

import { describeValue } from './errors'

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export class Issues {
  readonly list: string[] = []

  add(path: string, message: string, received?: unknown): void {
    this.list.push(
      arguments.length > 2
        ? `${path}: ${message} (Received: ${describeValue(received)})`
        : `${path}: ${message}`,
    )
  }

  get empty(): boolean {
    return this.list.length === 0
  }

  /** One line when there is one issue, otherwise a bulleted list. */
  format(intro: string): string {
    if (this.list.length === 1) return `${intro}: ${this.list[0] ?? ''}`
    return `${intro}:\n${this.list.map((issue) => `  - ${issue}`).join('\n')}`
  }
}

export function optionalString(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  issues: Issues,
): string | undefined {
  const value = obj[key]
  if (value === undefined) return undefined
  if (typeof value !== 'string') {
    issues.add(`${path}.${key}`, 'must be a string', value)
    return undefined
  }
  return value
}

export function optionalBoolean(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  issues: Issues,
): boolean | undefined {
  const value = obj[key]
  if (value === undefined) return undefined
  if (typeof value !== 'boolean') {
    issues.add(`${path}.${key}`, 'must be a boolean', value)
    return undefined
  }
  return value
}

export function optionalInteger(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  issues: Issues,
  range: { min: number; max?: number },
): number | undefined {
  const value = obj[key]
  if (value === undefined) return undefined
  const max = range.max ?? Number.MAX_SAFE_INTEGER
  if (typeof value !== 'number' || !Number.isInteger(value) || value < range.min || value > max) {
    const bounds = range.max === undefined ? `at least ${range.min}` : `from ${range.min} to ${range.max}`
    issues.add(`${path}.${key}`, `must be an integer ${bounds}`, value)
    return undefined
  }
  return value
}

/** `YYYY-MM-DD HH:MM:SS` (24-hour UTC) with a real calendar date. */
export function isQualtricsDateTime(value: unknown): value is string {
  if (typeof value !== 'string') return false
  const match = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(value)
  if (!match) return false
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59 || day < 1) return false
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate()
  return day <= daysInMonth
}
