// `pnpm dev` and `pnpm build` (Vite needs a default export here). `pnpm start` and the end-to-end test
// build the same configuration in scripts/. With `pnpm dev` alone, start the proxy yourself
// (`pnpm --filter @qualtrics-relay/proxy start`) and point RELAY_SANDBOX_URL at its sandbox.
import { defineConfig } from 'vite'
import { createViteOptions } from './scripts/vite-options'

export default defineConfig(() => {
  const { configFile: _configFile, ...options } = createViteOptions({
    host: process.env.HOST || '127.0.0.1',
    port: Number(process.env.WEB_PORT || 5173),
    sandboxUrl: process.env.RELAY_SANDBOX_URL || 'http://127.0.0.1:8788',
  })
  return options
})
