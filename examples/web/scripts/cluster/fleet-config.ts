// The config file of each proxy of the fleet: the demo's write key and mappings (those of `pnpm start`)
// with the sandbox's ids written in, since the instances run in mode "qualtrics" against the one
// sandbox they share (placeholders are for sandbox mode, where each proxy would start a sandbox of its
// own). The store is PostgreSQL, from DATABASE_URL in their environment.
import { SANDBOX_PLACEHOLDERS } from '@qualtrics-relay/proxy'
import type { RunningSandbox } from '@qualtrics-relay/sandbox'
import { demoConfigText } from '../demo-servers'

/**
 * Slow enough that a few clicks move the shared bucket visibly (10 requests a second for the whole
 * fleet, at most 20 at once), and a killed instance's leased items go to the others after 15 s
 * instead of the default minute.
 */
export const FLEET_DELIVERY = {
  requestsPerMinute: 600,
  burst: 20,
  leaseMs: 15_000,
} as const

export function fleetProxyConfig(
  port: number,
  siteOrigins: readonly string[],
  sandbox: Pick<RunningSandbox, 'directoryId' | 'mailingListId' | 'workflowUrl'>,
  logLevel: string,
): Record<string, unknown> {
  const demo = JSON.parse(demoConfigText(siteOrigins, port, 0)) as { writeKeys: unknown }
  let writeKeys = JSON.stringify(demo.writeKeys)
  for (const kind of ['directoryId', 'mailingListId', 'workflowUrl'] as const) {
    const inJson = (value: string) => JSON.stringify(value).slice(1, -1)
    writeKeys = writeKeys.split(inJson(SANDBOX_PLACEHOLDERS[kind])).join(inJson(sandbox[kind]))
  }
  return {
    server: { host: '127.0.0.1', port },
    delivery: FLEET_DELIVERY,
    logLevel,
    writeKeys: JSON.parse(writeKeys) as unknown,
  }
}
