// The demo site's Vite configuration, shared by `pnpm start`, the end-to-end test and vite.config.ts
// (`pnpm dev`, `pnpm build`). Only non-secret values reach the page, as VITE_* variables.
import { fileURLToPath } from 'node:url'
import type { InlineConfig } from 'vite'

export const SITE_ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface SiteOptions {
  host: string
  port: number
  /** The sandbox's base URL: its inspection API is served to the page under `/__sandbox`. */
  sandboxUrl?: string
  /** `pnpm start:cluster`: the launcher's panel API, served to the page under `/__cluster`. */
  clusterUrl?: string
  logLevel?: 'info' | 'warn' | 'error' | 'silent'
  /** Watch the sources and reload the page on a change. Default true; the end-to-end test turns it off. */
  watch?: boolean
}

/** The public settings the page reads from `import.meta.env`. */
export interface SiteEnv {
  VITE_RELAY_PROXY_URL: string
  VITE_RELAY_WRITE_KEY: string
  /** In sandbox mode, the sandbox's address (its page); its inspection API is then served under
   * `/__sandbox`. Empty against real Qualtrics. */
  VITE_RELAY_SANDBOX: string
  /** `1` under `pnpm start:cluster`: the page shows the fleet panel (its API under `/__cluster`). */
  VITE_RELAY_CLUSTER: string
}

export function createViteOptions(options: SiteOptions): InlineConfig {
  return {
    configFile: false,
    root: SITE_ROOT,
    clearScreen: false,
    logLevel: options.logLevel ?? 'info',
    server: {
      host: options.host,
      port: options.port,
      strictPort: true,
      ...(options.watch === false ? { watch: null, hmr: false } : {}),
      proxy: {
        ...(options.sandboxUrl === undefined
          ? {}
          : { '/__sandbox': { target: options.sandboxUrl, changeOrigin: true } }),
        ...(options.clusterUrl === undefined
          ? {}
          : { '/__cluster': { target: options.clusterUrl, changeOrigin: true } }),
      },
    },
    // Pre-bundle analytics-next at start-up, so the first visit does not trigger a reload.
    optimizeDeps: { include: ['@segment/analytics-next'] },
    build: { target: 'es2022', outDir: 'dist', emptyOutDir: true },
  }
}

/**
 * Makes the page's settings visible to Vite, which exposes `VITE_*` variables of the process to the page.
 * Unless `override`, variables the user already set win. Never put a secret here: everything ends up in
 * the browser.
 */
export function exposeSiteEnv(
  values: SiteEnv,
  { override = false, env = process.env }: { override?: boolean; env?: NodeJS.ProcessEnv } = {},
): SiteEnv {
  for (const [key, value] of Object.entries(values) as [keyof SiteEnv, string][]) {
    if (override || env[key] === undefined) env[key] = value
  }
  return {
    VITE_RELAY_PROXY_URL: env.VITE_RELAY_PROXY_URL ?? values.VITE_RELAY_PROXY_URL,
    VITE_RELAY_WRITE_KEY: env.VITE_RELAY_WRITE_KEY ?? values.VITE_RELAY_WRITE_KEY,
    VITE_RELAY_SANDBOX: env.VITE_RELAY_SANDBOX ?? values.VITE_RELAY_SANDBOX,
    VITE_RELAY_CLUSTER: env.VITE_RELAY_CLUSTER ?? values.VITE_RELAY_CLUSTER,
  }
}
