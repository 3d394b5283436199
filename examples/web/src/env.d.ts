// The public settings `pnpm start` gives the page (see scripts/vite-options.ts).
interface ImportMetaEnv {
  readonly VITE_RELAY_PROXY_URL?: string
  readonly VITE_RELAY_WRITE_KEY?: string
  readonly VITE_RELAY_SANDBOX?: string
}
