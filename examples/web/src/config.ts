// The page's settings: public values from VITE_* variables (set by `pnpm start`), a few switches from
// the query string. Nothing here is a secret: the Qualtrics token stays in the proxy.

export interface SiteConfig {
  /** The qualtrics-relay proxy the plugin talks to. */
  proxyUrl: string
  /** The proxy's write key for this site (public). */
  writeKey: string
  /** Sandbox mode: the sandbox's inspection API is reachable under `/__sandbox`. */
  sandbox: boolean
  /** In sandbox mode, the sandbox's own page. */
  sandboxPage?: string
  /** The plugin's `flushIntervalMs`: `?flushMs=60000` holds events in the browser for a minute. */
  flushIntervalMs: number
  /** `?debug`: the plugin logs what it does to the console. */
  debug: boolean
  /** Under `pnpm start:cluster`: the fleet panel, from the launcher's API under `/__cluster`. */
  cluster: boolean
}

export const DEFAULTS = {
  proxyUrl: 'http://127.0.0.1:8787',
  writeKey: 'wk_demo',
  sandboxUrl: 'http://127.0.0.1:8788',
  flushIntervalMs: 1000,
} as const

type SiteEnv = Partial<
  Record<
    'VITE_RELAY_PROXY_URL' | 'VITE_RELAY_WRITE_KEY' | 'VITE_RELAY_SANDBOX' | 'VITE_RELAY_CLUSTER',
    string
  >
>

export function readSiteConfig(env: SiteEnv, search: string): SiteConfig {
  const query = new URLSearchParams(search)
  const flush = Number(query.get('flushMs') ?? DEFAULTS.flushIntervalMs)
  // Unset (plain `pnpm dev`): the sandbox at its default address. Empty: real Qualtrics.
  const sandboxUrl = env.VITE_RELAY_SANDBOX ?? DEFAULTS.sandboxUrl
  const config: SiteConfig = {
    proxyUrl: env.VITE_RELAY_PROXY_URL || DEFAULTS.proxyUrl,
    writeKey: env.VITE_RELAY_WRITE_KEY || DEFAULTS.writeKey,
    sandbox: sandboxUrl !== '',
    // The plugin accepts 0-60,000 ms; anything else falls back to the default.
    flushIntervalMs:
      Number.isInteger(flush) && flush >= 0 && flush <= 60_000 ? flush : DEFAULTS.flushIntervalMs,
    debug: query.has('debug'),
    cluster: env.VITE_RELAY_CLUSTER === '1',
  }
  if (sandboxUrl !== '') config.sandboxPage = `${sandboxUrl.replace(/\/+$/, '')}/`
  return config
}
