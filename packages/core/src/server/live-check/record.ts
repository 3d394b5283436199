// The record a live check leaves behind: a small JSON file saying what was verified on which account.
// The engine's batched (`or`) look-ups are turned on from it, and only when it was made for the same
// API base and token (compared by a fingerprint; the token itself is never written).
//
//   { "format": "qualtrics-relay-live-check", "version": 1, "checkedAt": "2026-12-03T10:00:00.000Z",
//     "apiBase": "https://iad1.qualtrics.com", "tokenFingerprint": "3f1c…", "brandId": "acme",
//     "orLookups": "honoured" }
//
// A file beside the deployment (not the delivery store) because the check runs as a command, before or
// beside the relay, and because every store backend would otherwise need a place for it.

import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { ConfigError, describeValue } from '../../errors'
import { parseQualtricsClientOptions, type QualtricsClientOptions } from '../qualtrics/options'
import type { LiveCheckReport, OrLookups } from './live-check'

export interface LiveCheckRecord {
  format: 'qualtrics-relay-live-check'
  version: 1
  checkedAt: string
  apiBase: string
  /** SHA-256 of the token, first 16 hex characters: enough to tell tokens apart, useless to call with. */
  tokenFingerprint: string
  brandId?: string
  orLookups: OrLookups
}

/** The account a record is for: the client's API base and its token's fingerprint. */
export function liveCheckAccount(
  options: Pick<QualtricsClientOptions, 'apiToken' | 'datacenter' | 'baseUrl'>,
): { apiBase: string; tokenFingerprint: string } {
  const { apiBase, apiToken } = parseQualtricsClientOptions(options)
  return {
    apiBase,
    tokenFingerprint: createHash('sha256').update(apiToken).digest('hex').slice(0, 16),
  }
}

export function liveCheckRecordOf(
  report: LiveCheckReport,
  account: { apiBase: string; tokenFingerprint: string },
  at: number,
): LiveCheckRecord {
  return {
    format: 'qualtrics-relay-live-check',
    version: 1,
    checkedAt: new Date(at).toISOString(),
    ...account,
    ...(report.brandId === undefined ? {} : { brandId: report.brandId }),
    orLookups: report.orLookups,
  }
}

/** Writes the record (a temporary file renamed into place, so a reader never sees half of it). */
export function writeLiveCheckRecord(path: string, record: LiveCheckRecord): void {
  mkdirSync(dirname(path), { recursive: true })
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`)
  renameSync(temporary, path)
}

/** The record at `path`; undefined when there is none. A file that is not a record is a ConfigError. */
export function readLiveCheckRecord(path: string): LiveCheckRecord | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ConfigError(`Cannot read the live-check record ${path}: ${(error as Error).message}`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new ConfigError(`The live-check record ${path} is not JSON`)
  }
  const r = value as Partial<LiveCheckRecord> | null
  const ok =
    typeof r === 'object' &&
    r !== null &&
    r.format === 'qualtrics-relay-live-check' &&
    r.version === 1 &&
    typeof r.apiBase === 'string' &&
    typeof r.tokenFingerprint === 'string' &&
    typeof r.checkedAt === 'string' &&
    (r.orLookups === 'honoured' || r.orLookups === 'not-honoured' || r.orLookups === 'untested')
  if (!ok)
    throw new ConfigError(
      `${path} is not a live-check record written by "check --live" (Received: ${describeValue(value)})`,
    )
  return r as LiveCheckRecord
}

/** Whether the record verified `or` look-ups on this very account. */
export function orLookupsVerified(
  record: LiveCheckRecord | undefined,
  account: { apiBase: string; tokenFingerprint: string },
): boolean {
  return (
    record !== undefined &&
    record.orLookups === 'honoured' &&
    record.apiBase === account.apiBase &&
    record.tokenFingerprint === account.tokenFingerprint
  )
}
