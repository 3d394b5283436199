// Starts the whole demo in one process: the proxy (which, in sandbox mode, starts the sandbox in-process)
// and the Vite dev server for the site. Used by `pnpm start` (fixed ports) and the end-to-end test
// (free ports); `pnpm start:cluster` (cluster/) starts the same site with `startSite`.
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
import { createServer } from 'vite'
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

/** The origins a page of the site has when it listens on `host:port` (127.0.0.1 is also localhost). */
export function siteOriginsOf(host: string, port: number): string[] {
  const origin = `http://${host}:${port}`
  return host === '127.0.0.1' ? [origin, `http://localhost:${port}`] : [origin]
}

export interface SiteServerOptions {
  host: string
  port: number
  /** What the page is told (proxy, write key, sandbox, cluster). */
  site: SiteEnv
  /** The sandbox whose inspection API the page reads under `/__sandbox`. */
  sandboxUrl?: string
  /** The launcher's panel API the page reads under `/__cluster` (`pnpm start:cluster`). */
  clusterUrl?: string
  viteLogLevel?: 'info' | 'warn' | 'error' | 'silent'
  watch?: boolean
  overrideSiteEnv?: boolean
}

export interface RunningSite {
  /** `http://127.0.0.1:5173/` */
  url: string
  /** The page's origins, for the proxy's `origins`. */
  origins: string[]
  close(): Promise<void>
}

/** The demo site: the Vite dev server, with the page's settings exposed as VITE_* variables. */
export async function startSite(options: SiteServerOptions): Promise<RunningSite> {
  exposeSiteEnv(options.site, { override: options.overrideSiteEnv ?? false })
  const vite = await createServer(
    createViteOptions({
      host: options.host,
      port: options.port,
      ...(options.sandboxUrl === undefined ? {} : { sandboxUrl: options.sandboxUrl }),
      ...(options.clusterUrl === undefined ? {} : { clusterUrl: options.clusterUrl }),
      ...(options.viteLogLevel ? { logLevel: options.viteLogLevel } : {}),
      ...(options.watch === false ? { watch: false } : {}),
    }),
  )
  try {
    await vite.listen()
  } catch (error) {
    await vite.close()
    throw error
  }
  const address = vite.httpServer?.address()
  const port = typeof address === 'object' && address !== null ? address.port : options.port
  return {
    url: `http://${options.host}:${port}/`,
    origins: siteOriginsOf(options.host, port),
    close: () => vite.close(),
  }
}

export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const host = options.host ?? '127.0.0.1'
  const siteOrigins = siteOriginsOf(host, options.sitePort)
  const siteOrigin = siteOrigins[0] as string
  const config = readProxyConfig(options, siteOrigins)

  const proxy: RunningServer = await startServer(config, {
    processMetrics: false,
    closeGraceMs: 2_000,
    ...(options.proxyLog ? { logDestination: options.proxyLog } : {}),
  })
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
    const site = await startSite({
      host,
      port: options.sitePort,
      site: {
        VITE_RELAY_PROXY_URL: proxy.url,
        VITE_RELAY_WRITE_KEY: writeKey,
        VITE_RELAY_SANDBOX: proxy.sandbox ? proxy.sandbox.url : '',
        VITE_RELAY_CLUSTER: '',
      },
      ...(proxy.sandbox ? { sandboxUrl: proxy.sandbox.url } : {}),
      ...(options.viteLogLevel ? { viteLogLevel: options.viteLogLevel } : {}),
      ...(options.watch === false ? { watch: false } : {}),
      ...(options.overrideSiteEnv === undefined ? {} : { overrideSiteEnv: options.overrideSiteEnv }),
    })
    let closing: Promise<void> | undefined
    const demo: RunningDemo = {
      mode: proxy.sandbox ? 'sandbox' : 'qualtrics',
      siteUrl: site.url,
      proxyUrl: proxy.url,
      writeKey,
      configSource: proxy.config.source,
      warnings,
      close: () => {
        closing ??= Promise.allSettled([site.close(), proxy.close()]).then((results) => {
          const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
          if (failed) throw failed.reason
        })
        return closing
      },
    }
    if (proxy.sandbox) demo.sandboxUrl = proxy.sandbox.url
    return demo
  } catch (error) {
    await proxy.close()
    throw error
  }
}
