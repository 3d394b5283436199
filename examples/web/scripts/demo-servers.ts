// Starts the whole demo in one process: the proxy (which, in sandbox mode, starts the sandbox in-process)
// and the Vite dev server for the site. Used by `pnpm start` (fixed ports) and the end-to-end test
// (free ports).
import { isAbsolute, resolve } from 'node:path'
import {
  DEMO_CONFIG,
  loadConfig,
  parseConfig,
  startServer,
  type Env,
  type ProxyConfig,
  type RunningServer,
} from '@qualtrics-relay/proxy'
import { createServer, type ViteDevServer } from 'vite'
import { createViteOptions, exposeSiteEnv, type SiteEnv } from './vite-options'

export interface DemoOptions {
  /** Where all three listen. Default `127.0.0.1`. */
  host?: string
  sitePort: number
  /** The proxy's port unless `PORT` is set in `env` or the config file sets one. */
  proxyPort: number
  /** The sandbox's port in sandbox mode with the built-in demo configuration. */
  sandboxPort: number
  /** The environment the proxy configuration is read from (QUALTRICS_*, RELAY_CONFIG, PORT, …). */
  env: Env
  /** Where the proxy writes its JSON log lines. Default: stdout. */
  proxyLog?: { write(line: string): unknown }
  viteLogLevel?: 'info' | 'warn' | 'error' | 'silent'
  /** Reload the page when a source changes. Default true. */
  watch?: boolean
  /** Replace VITE_* variables already set in the process (the end-to-end test does). Default false. */
  overrideSiteEnv?: boolean
}

export interface RunningDemo {
  mode: 'sandbox' | 'qualtrics'
  siteUrl: string
  proxyUrl: string
  /** In sandbox mode: the sandbox's base URL (its page is at `/`). */
  sandboxUrl?: string
  writeKey: string
  /** Where the configuration came from. */
  configSource: string
  /** Problems worth telling the user about (e.g. the site's origin missing from the write key). */
  warnings: string[]
  close(): Promise<void>
}

/** The built-in demo configuration, with the origins of this site and the chosen ports. */
export function demoConfigText(
  siteOrigins: readonly string[],
  proxyPort: number,
  sandboxPort: number,
): string {
  const writeKeys = Object.fromEntries(
    Object.entries(DEMO_CONFIG.writeKeys).map(([key, wk]) => [key, { ...wk, origins: [...siteOrigins] }]),
  )
  return JSON.stringify({
    ...DEMO_CONFIG,
    server: { port: proxyPort },
    sandbox: { port: sandboxPort },
    writeKeys,
  })
}

function readProxyConfig(options: DemoOptions, siteOrigins: readonly string[]): ProxyConfig {
  const { env } = options
  const file = env.RELAY_CONFIG
  if (file !== undefined && file !== '') {
    // `pnpm start` runs in examples/web: resolve a relative path against where the user typed it.
    const base = env.INIT_CWD ?? process.cwd()
    return loadConfig({ configPath: isAbsolute(file) ? file : resolve(base, file), env })
  }
  // Any Qualtrics setting means a real account was meant: loadConfig then says what is missing (a file,
  // the token) instead of the demo quietly running against the sandbox. The demo config asks for
  // sandbox mode by name.
  if (env.QUALTRICS_API_TOKEN || env.QUALTRICS_DATACENTER || env.QUALTRICS_BASE_URL)
    return loadConfig({ env })
  return parseConfig(
    env,
    demoConfigText(siteOrigins, options.proxyPort, options.sandboxPort),
    'the demo configuration',
  )
}

export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const host = options.host ?? '127.0.0.1'
  const siteOrigin = `http://${host}:${options.sitePort}`
  const siteOrigins =
    host === '127.0.0.1' ? [siteOrigin, `http://localhost:${options.sitePort}`] : [siteOrigin]
  const config = readProxyConfig(options, siteOrigins)

  const proxy: RunningServer = await startServer(config, {
    processMetrics: false,
    closeGraceMs: 2_000,
    ...(options.proxyLog ? { logDestination: options.proxyLog } : {}),
  })
  let vite: ViteDevServer | undefined
  try {
    const keys = [...proxy.config.writeKeys.keys()]
    const writeKey =
      options.env.VITE_RELAY_WRITE_KEY || (keys.includes('wk_demo') ? 'wk_demo' : (keys[0] ?? ''))
    const warnings: string[] = []
    const wk = proxy.config.writeKeys.get(writeKey)
    if (wk === undefined) {
      warnings.push(`the proxy has no write key ${JSON.stringify(writeKey)} (it has: ${keys.join(', ')})`)
    } else if (!wk.origins.includes('*') && !siteOrigins.some((o) => wk.origins.includes(o))) {
      warnings.push(
        `write key ${writeKey} does not list the site's origin ${siteOrigin} in "origins": the proxy will refuse the page's requests`,
      )
    }
    const site: SiteEnv = {
      VITE_RELAY_PROXY_URL: proxy.url,
      VITE_RELAY_WRITE_KEY: writeKey,
      VITE_RELAY_SANDBOX: proxy.sandbox ? proxy.sandbox.url : '',
    }
    exposeSiteEnv(site, { override: options.overrideSiteEnv ?? false })
    vite = await createServer(
      createViteOptions({
        host,
        port: options.sitePort,
        ...(proxy.sandbox ? { sandboxUrl: proxy.sandbox.url } : {}),
        ...(options.viteLogLevel ? { logLevel: options.viteLogLevel } : {}),
        ...(options.watch === false ? { watch: false } : {}),
      }),
    )
    await vite.listen()
    const server = vite
    let closing: Promise<void> | undefined
    const demo: RunningDemo = {
      mode: proxy.sandbox ? 'sandbox' : 'qualtrics',
      siteUrl: `${siteOrigin}/`,
      proxyUrl: proxy.url,
      writeKey,
      configSource: proxy.config.source,
      warnings,
      close: () => {
        closing ??= Promise.allSettled([server.close(), proxy.close()]).then((results) => {
          const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
          if (failed) throw failed.reason
        })
        return closing
      },
    }
    if (proxy.sandbox) demo.sandboxUrl = proxy.sandbox.url
    return demo
  } catch (error) {
    await vite?.close()
    await proxy.close()
    throw error
  }
}
