// `pnpm start:cluster`: embedded PostgreSQL, the sandbox, three proxy processes on that database, a
// round-robin balancer in front of them and the demo site pointed at the balancer, with the fleet panel
// at the top of the page (each instance's request rate to Qualtrics, its state, the shared bucket, and
// buttons that kill an instance and start it again). Ctrl-C stops everything and removes the data.
//
//   node --import tsx scripts/start-cluster.ts [--free-ports]
//
// Not through the tsx command: on Ctrl-C it gives this process 30 ms to report the signal before it
// sends SIGKILL, and a loaded machine misses that, leaving the temporary folders behind.
// Ports: WEB_PORT (5173), SANDBOX_PORT (8788), PANEL_PORT (8789, the panel's API); the balancer, the
// proxies and PostgreSQL take free ones. --free-ports puts those three at 0 too (free) unless set: the
// test runs it so, next to whatever else runs on the machine. It opens nothing: the banner lists the
// addresses. RELAY_LOG_LEVEL sets the proxies' log level (warn).
import { parseArgs } from 'node:util'
import { startCluster, type RunningCluster } from './cluster/cluster'
import { portFromEnv } from './env-port'
import { stopOnSignals } from './stop-on-signals'

function options(): { freePorts: boolean } {
  try {
    const { values } = parseArgs({ options: { 'free-ports': { type: 'boolean' } }, strict: true })
    return { freePorts: values['free-ports'] === true }
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
    process.stderr.write('Usage: node --import tsx scripts/start-cluster.ts [--free-ports]\n')
    process.exit(2)
  }
}

function masked(url: string): string {
  const parsed = new URL(url)
  if (parsed.password) parsed.password = '***'
  return parsed.href
}

async function main(): Promise<void> {
  const { freePorts } = options()
  const port = (name: string, fallback: number) => portFromEnv(name, freePorts ? 0 : fallback, 0)
  let stopping = false
  let cluster: RunningCluster
  try {
    cluster = await startCluster({
      sitePort: port('WEB_PORT', 5173),
      sandboxPort: port('SANDBOX_PORT', 8788),
      panelPort: port('PANEL_PORT', 8789),
      proxyLogLevel: process.env.RELAY_LOG_LEVEL || 'warn',
      onProxyOutput: (id, line) => {
        if (!stopping) process.stdout.write(`[${id}] ${line}\n`)
      },
      ownSignals: true,
      viteLogLevel: 'warn',
    })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    process.stderr.write(
      `Could not start the cluster: ${error instanceof Error ? error.message : String(error)}\n`,
    )
    if (code === 'EADDRINUSE') {
      process.stderr.write('A port is taken: set WEB_PORT, SANDBOX_PORT or PANEL_PORT to free ones.\n')
    }
    process.exit(1)
  }

  const view = cluster.fleet.view()
  const lines = [
    '',
    `  qualtrics-relay cluster: ${view.length} proxies on one PostgreSQL behind a round-robin balancer (sandbox: a local Qualtrics)`,
    '',
    `  Demo site      ${cluster.siteUrl}   the fleet panel is at the top`,
    `  Balancer       ${cluster.balancerUrl}   write key wk_demo`,
    ...view.map((i) => `    ${i.id}      ${i.url}   pid ${i.pid ?? '-'}`),
    `  Sandbox page   ${cluster.sandboxUrl}/`,
    `  Panel API      ${cluster.panelUrl}/state`,
    `  PostgreSQL     ${masked(cluster.databaseUrl)}   (a temporary cluster, removed at exit)`,
    '',
    '  Press Ctrl-C to stop.',
    '',
  ]
  process.stdout.write(`${lines.join('\n')}\n`)

  stopOnSignals(
    'the proxies, the site, the balancer, the sandbox and PostgreSQL',
    () => cluster.close(),
    // The proxies' last log lines (a database going away under them) are noise by then.
    () => (stopping = true),
  )
}

void main()
