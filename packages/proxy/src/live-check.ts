// `check --live`: the live check of the configured account (core's runLiveCheck) with what the proxy's
// configuration sends to, one line per result, and the record that start-up reads (config
// `liveCheck.recordPath`). Also the datacenter warning of `check`.
import {
  liveCheckAccount,
  liveCheckRecordOf,
  PUBLISHED_DATACENTERS,
  runLiveCheck,
  writeLiveCheckRecord,
  type QualtricsClient,
} from '@qualtrics-relay/core/server'
import type { ProxyConfig } from './config'

export interface LiveCheckIo {
  out(line: string): void
}

/** A datacenter id outside Qualtrics' published server list: used as given, with a warning. */
export function datacenterWarning(datacenter: string | undefined): string | undefined {
  if (datacenter === undefined || (PUBLISHED_DATACENTERS as readonly string[]).includes(datacenter))
    return undefined
  return (
    `warning: datacenter "${datacenter}" is not in the list Qualtrics publishes (${PUBLISHED_DATACENTERS.join(', ')}); ` +
    'older ids live on in brand hosts, so it is used as given: check it if calls fail'
  )
}

/** Directories and mailing lists the write keys may send to (allowlists plus literal mapping values). */
export function configuredTargets(config: ProxyConfig): { directoryIds: string[]; mailingListIds: string[] } {
  const directories = new Set<string>()
  const lists = new Set<string>()
  for (const wk of config.writeKeys.values()) {
    for (const d of wk.allow.directories) directories.add(d)
    for (const m of wk.allow.mailingLists) lists.add(m)
  }
  return { directoryIds: [...directories], mailingListIds: [...lists] }
}

/**
 * Runs the live check and prints one line per result. Outside sandbox mode, writes the record start-up
 * reads. Resolves with the exit code: 1 when a check failed.
 */
export async function checkLive(
  config: ProxyConfig,
  client: QualtricsClient,
  target: { apiToken: string; datacenter?: string; baseUrl?: string },
  io: LiveCheckIo,
  options: { writeTest?: string; now?: () => number } = {},
): Promise<number> {
  const now = options.now ?? Date.now
  const report = await runLiveCheck({
    client,
    ...configuredTargets(config),
    ...(options.writeTest === undefined ? {} : { writeTest: { directoryId: options.writeTest } }),
    now,
  })
  for (const r of report.results) io.out(`${r.ok ? 'ok  ' : 'FAIL'} ${r.check}: ${r.detail}`)
  if (config.qualtrics.mode === 'sandbox') {
    io.out('sandbox mode: nothing recorded (the record is for a real account)')
  } else if (report.brandId !== undefined) {
    writeLiveCheckRecord(
      config.liveCheck.recordPath,
      liveCheckRecordOf(report, liveCheckAccount(target), now()),
    )
    io.out(
      `recorded in ${config.liveCheck.recordPath}: batched look-ups ${report.orLookups === 'honoured' ? 'on' : 'off'} from the next start`,
    )
  }
  io.out(report.ok ? 'live check passed' : 'live check FAILED')
  return report.ok ? 0 : 1
}
