// The script-tag build: the IIFE defines window.QualtricsRelay, and its plugin works in analytics-next.
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Plugin } from '@segment/analytics-next'
import type { createQualtricsPlugin } from '../src/index'
import { loadAnalytics, memoryStorage, settingsFixture, waitFor, WRITE_KEY } from './support/harness'
import { startWireServer, type WireServer } from './support/wire-server'

const GLOBAL_NAME = 'QualtricsRelay'
// esbuild refuses to run inside jsdom (its Uint8Array check fails across realms): build in a child process.
const buildIife = () =>
  execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(dirname(fileURLToPath(import.meta.url)), '../scripts/build-iife.ts'),
      '--stdout',
    ],
    {
      encoding: 'utf8',
    },
  )

let server: WireServer
beforeAll(async () => {
  server = await startWireServer(settingsFixture())
})
afterAll(() => server.stop())

describe('script-tag build', () => {
  it(`exposes ${GLOBAL_NAME}.createQualtricsPlugin with core bundled in`, async () => {
    const code = buildIife()
    expect(code).not.toMatch(/\bimport\b|\brequire\(/)
    // What a <script> defines: one global var holding the module's exports.
    const global = new Function(`${code};return ${GLOBAL_NAME}`)() as {
      createQualtricsPlugin: typeof createQualtricsPlugin
    }
    expect(Object.keys(global).sort()).toEqual(['PLUGIN_NAME', 'VERSION', 'createQualtricsPlugin'])
    const plugin: Plugin = global.createQualtricsPlugin({
      proxyUrl: server.url,
      writeKey: WRITE_KEY,
      storage: memoryStorage(),
      flushIntervalMs: 0,
    })
    try {
      const analytics = await loadAnalytics([plugin])
      await analytics.identify('user-iife', { email: 'iife@example.com' })
      await waitFor('stored', () => server.stored.length === 1)
      expect(server.stored[0]).toMatchObject({ mapping: 'contact', payload: { extRef: 'user-iife' } })
    } finally {
      await plugin.unload?.(undefined as never, undefined as never)
    }
  })
})
