// checkLive: the node plugin's live check of the configured account (core's runLiveCheck), taking the
// plugin's own direct-mode options. Read-only unless `writeTest` names a directory. Writes the record
// `liveCheckRecord` points to, which the plugin reads to turn batched (`or`) look-ups on.
import { ConfigError } from '@qualtrics-relay/core'
import {
  createQualtricsClient,
  liveCheckAccount,
  liveCheckRecordOf,
  runLiveCheck,
  writeLiveCheckRecord,
  type LiveCheckReport,
} from '@qualtrics-relay/core/server'
import { parseNodePluginOptions, type DirectModeOptions } from './options'

export interface CheckLiveOptions {
  /** Also create a marked test contact and transaction in this directory and read them back. */
  writeTest?: string
  /** Default `Date.now`. */
  now?: () => number
}

export interface CheckLiveResult {
  ok: boolean
  /** One line per result, `ok   whoami: …` / `FAIL directory …: …`. */
  lines: string[]
  report: LiveCheckReport
  /** Where the record was written (the `liveCheckRecord` option), when it was. */
  recordedIn?: string
}

/**
 * Checks the account of these direct-mode options as the plugin uses it: whoami, the directories and
 * mailing lists its mappings name, a documented search, and whether `or` look-ups are honoured.
 */
export async function checkLive(
  options: DirectModeOptions,
  check: CheckLiveOptions = {},
): Promise<CheckLiveResult> {
  const config = parseNodePluginOptions(options)
  if (config.mode !== 'direct')
    throw new ConfigError(
      'checkLive needs direct-mode options (apiToken); in proxy mode run the proxy’s check --live',
    )
  const account = {
    apiToken: config.apiToken,
    ...(config.datacenter === undefined ? {} : { datacenter: config.datacenter }),
    ...(config.baseUrl === undefined ? {} : { baseUrl: config.baseUrl }),
  }
  const client = createQualtricsClient({
    ...account,
    ...(config.fetch === undefined ? {} : { fetch: config.fetch }),
    timeoutMs: config.requestTimeoutMs,
  })
  const directoryIds = new Set<string>()
  const mailingListIds = new Set<string>()
  for (const m of config.mappings) {
    if (typeof m.fields.directoryId === 'string') directoryIds.add(m.fields.directoryId)
    if (typeof m.fields.mailingListId === 'string') mailingListIds.add(m.fields.mailingListId)
  }
  const now = check.now ?? Date.now
  const report = await runLiveCheck({
    client,
    directoryIds: [...directoryIds],
    mailingListIds: [...mailingListIds],
    ...(check.writeTest === undefined ? {} : { writeTest: { directoryId: check.writeTest } }),
    now,
  })
  const result: CheckLiveResult = {
    ok: report.ok,
    lines: report.results.map((r) => `${r.ok ? 'ok  ' : 'FAIL'} ${r.check}: ${r.detail}`),
    report,
  }
  if (config.liveCheckRecord !== undefined && report.brandId !== undefined) {
    writeLiveCheckRecord(config.liveCheckRecord, liveCheckRecordOf(report, liveCheckAccount(account), now()))
    result.recordedIn = config.liveCheckRecord
  }
  return result
}
