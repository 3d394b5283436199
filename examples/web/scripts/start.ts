// `pnpm start`: the proxy (in sandbox mode, which the built-in demo configuration asks for by name; with a
// QUALTRICS_* variable set, against real Qualtrics, from RELAY_CONFIG) and the demo site, until Ctrl-C.
// Ports: WEB_PORT (5173), PORT (8787, the proxy's own variable), SANDBOX_PORT (8788). See README.md for running against real Qualtrics.
import { ConfigError } from '@qualtrics-relay/core'
import { startDemo, type RunningDemo } from './demo-servers'
import { portFromEnv } from './env-port'
import { stopOnSignals } from './stop-on-signals'

async function main(): Promise<void> {
  let demo: RunningDemo
  try {
    demo = await startDemo({
      sitePort: portFromEnv('WEB_PORT', 5173),
      proxyPort: portFromEnv('PORT', 8787),
      sandboxPort: portFromEnv('SANDBOX_PORT', 8788),
      // Request logs of the proxy are noisy next to a demo: warnings only unless asked for more. The
      // demo stays on 127.0.0.1 whatever HOST says (the site's origins are worked out for it).
      env: { ...process.env, HOST: '', RELAY_LOG_LEVEL: process.env.RELAY_LOG_LEVEL || 'warn' },
      viteLogLevel: 'warn',
    })
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`)
    } else {
      const code = (error as NodeJS.ErrnoException).code
      const message = error instanceof Error ? error.message : String(error)
      process.stderr.write(`Could not start the demo: ${message}\n`)
      if (code === 'EADDRINUSE') {
        process.stderr.write('A port is taken: set WEB_PORT, PORT or SANDBOX_PORT to free ones.\n')
      }
    }
    process.exit(1)
  }

  const lines = [
    '',
    `  qualtrics-relay demo (${demo.mode === 'sandbox' ? 'sandbox: a local Qualtrics, no account needed' : 'real Qualtrics'})`,
    '',
    `  Demo site      ${demo.siteUrl}`,
    `  Proxy          ${demo.proxyUrl}   write key ${demo.writeKey}, config: ${demo.configSource}`,
  ]
  if (demo.sandboxUrl) lines.push(`  Sandbox page   ${demo.sandboxUrl}/`)
  for (const warning of demo.warnings) lines.push('', `  warning: ${warning}`)
  lines.push('', '  Press Ctrl-C to stop.', '')
  process.stdout.write(`${lines.join('\n')}\n`)

  stopOnSignals('the site, the proxy and the sandbox', () => demo.close())
}

void main()
