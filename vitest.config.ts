import { defineConfig } from 'vitest/config'

// One project per environment: jsdom for the browser plugin, node for everything else. The node project
// starts one PostgreSQL server for the run (test-support/postgres-setup.ts).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: [
            'packages/{core,sandbox,proxy,node-plugin}/test/**/*.test.ts',
            'scripts/**/*.test.ts',
            'test-support/**/*.test.ts',
            'examples/web/test/**/*.test.ts',
          ],
          setupFiles: ['./test-support/loopback-only.ts'],
          globalSetup: ['./test-support/postgres-setup.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'browser-plugin',
          environment: 'jsdom',
          include: ['packages/browser-plugin/test/**/*.test.ts'],
          setupFiles: ['./test-support/loopback-only.ts'],
          testTimeout: 30_000,
        },
      },
    ],
  },
})
