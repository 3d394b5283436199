// The reliability suite (`pnpm test:reliability`): one file at a time, since the parts measure rates,
// memory and latency and kill processes. The reliability reporter writes reliability/results.json and
// RELIABILITY.md; the default reporter's summary stays the last thing printed.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['reliability/**/*.test.ts'],
    setupFiles: ['./test-support/loopback-only.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 300_000,
    reporters: ['./reliability/lib/reporter.ts', 'default'],
  },
})
