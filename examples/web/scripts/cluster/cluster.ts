// `pnpm start:cluster` in one function: embedded PostgreSQL, the sandbox, N proxy processes on that
// database, the round-robin balancer in front of them, the demo site pointed at the balancer, and the
// panel's API. Everything on 127.0.0.1; close() stops it all in order (the proxies first, so they hand
// their leases back while the database is still there) and removes the temporary folders.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandbox } from '@qualtrics-relay/sandbox'
import { startBalancer } from '../../../../test-support/balancer'
import { startEmbeddedPostgres } from '../../../../test-support/embedded-postgres'
import { startSite, type RunningSite } from '../demo-servers'
import { bucketView } from './bucket'
import { sendBurst } from './burst'
import { createFleet, type Fleet } from './fleet'
import { fleetProxyConfig, FLEET_DELIVERY } from './fleet-config'
import { PANEL_API_PREFIX, startPanelApi } from './panel-api'

export interface ClusterOptions {
  /** Proxy instances. Default 3. */
  instances?: number
  /** The demo site's port (0: a free one). */
  sitePort: number
  sandboxPort: number
  /** The panel API's port. */
  panelPort: number
  /** The proxies' `logLevel`. Default `warn`. */
  proxyLogLevel?: string
  /** Each line a proxy writes to stdout. */
  onProxyOutput?(id: string, line: string): void
  /** Take SIGINT/SIGTERM from embedded-postgres (the caller closes on them). Default false. */
  ownSignals?: boolean
  viteLogLevel?: 'info' | 'warn' | 'error' | 'silent'
}

export interface RunningCluster {
  /** The address the site and any client sends to: the balancer. */
  balancerUrl: string
  sandboxUrl: string
  /** The panel API's base (its routes are under `/__cluster`). */
  panelUrl: string
  /** The demo site; its fleet panel is at the top of the page. */
  siteUrl: string
  databaseUrl: string
  fleet: Fleet
  close(): Promise<void>
}

const HOST = '127.0.0.1'
const WRITE_KEY = 'wk_demo'

export async function startCluster(options: ClusterOptions): Promise<RunningCluster> {
  // Closers, last started first; run on failure at start-up and by close().
  const started: (() => Promise<unknown> | void)[] = []
  const closeAll = async () => {
    for (const close of started.splice(0).reverse()) {
      await Promise.resolve()
        .then(close)
        .catch(() => {})
    }
  }
  try {
    const postgres = await startEmbeddedPostgres({ ownSignals: options.ownSignals ?? false })
    started.push(() => postgres.close())
    const databaseUrl = postgres.adminUrl

    const sandbox = await startSandbox({ port: options.sandboxPort, host: HOST })
    started.push(() => sandbox.close())

    const balancer = await startBalancer({ targets: [] })
    started.push(() => balancer.close())

    const dir = mkdtempSync(join(tmpdir(), 'qr-cluster-'))
    started.push(() => rmSync(dir, { recursive: true, force: true }))

    // The site starts after the panel API (it forwards /__cluster to it), the fleet before that API.
    const later: { site?: RunningSite } = {}
    const fleet = await createFleet({
      count: options.instances ?? 3,
      dir,
      // Asked when an instance starts: after the site listens, whose origins it allows.
      configFor: (port) =>
        fleetProxyConfig(port, later.site?.origins ?? [], sandbox, options.proxyLogLevel ?? 'warn'),
      env: { QUALTRICS_API_TOKEN: sandbox.token, QUALTRICS_BASE_URL: sandbox.url, DATABASE_URL: databaseUrl },
      ...(options.onProxyOutput ? { onOutput: options.onProxyOutput } : {}),
      balancerRequests: () =>
        Object.fromEntries(Object.entries(balancer.stats().targets).map(([url, s]) => [url, s.requests])),
    })
    started.push(() => fleet.close())

    const panel = await startPanelApi({
      host: HOST,
      port: options.panelPort,
      fleet,
      origins: () => later.site?.origins ?? [],
      burst: () => sendBurst(balancer.url, sandbox, WRITE_KEY),
      details: async () => {
        const report = fleet.budget()
        return {
          bucket:
            report === undefined
              ? { error: 'no instance has reported it yet' }
              : bucketView(report, FLEET_DELIVERY),
          leaseMs: FLEET_DELIVERY.leaseMs,
          balancer: { url: balancer.url, unavailable: balancer.stats().unavailable },
          sandbox: { url: sandbox.url },
          site: { url: later.site?.url ?? '' },
          postgres: { pid: postgres.pid, dir: postgres.dir },
        }
      },
    })
    started.push(() => panel.close())

    const running = await startSite({
      host: HOST,
      port: options.sitePort,
      site: {
        VITE_RELAY_PROXY_URL: balancer.url,
        VITE_RELAY_WRITE_KEY: WRITE_KEY,
        VITE_RELAY_SANDBOX: sandbox.url,
        VITE_RELAY_CLUSTER: '1',
      },
      sandboxUrl: sandbox.url,
      clusterUrl: panel.url,
      // This page is the cluster's: the environment of the shell does not redirect it.
      overrideSiteEnv: true,
      ...(options.viteLogLevel ? { viteLogLevel: options.viteLogLevel } : {}),
    })
    later.site = running
    started.push(() => running.close())

    await fleet.start()
    balancer.setTargets(fleet.urls)

    return {
      balancerUrl: balancer.url,
      sandboxUrl: sandbox.url,
      panelUrl: `${panel.url}${PANEL_API_PREFIX}`,
      siteUrl: running.url,
      databaseUrl,
      fleet,
      close: closeAll,
    }
  } catch (error) {
    await closeAll()
    throw error
  }
}
