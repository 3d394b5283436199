// A scratch Vite app with two pages that differ only by the browser plugin: analytics-next loaded from
// npm with inline CDN settings (no request to Segment), with and without `createQualtricsPlugin`. The size
// measurement builds both and compares them; the consumer check serves the plugin page to Chromium,
// which reads the proxy's URL and write key from the query string.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { run } from './run'
import { npmInstall } from './scratch'
import { workspaceVersion } from './workspace'

export type PageName = 'without-plugin' | 'with-plugin' | 'core-only'

const HTML = `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><title>qualtrics-relay scratch page</title></head>
  <body><script type="module" src="./main.js"></script></body>
</html>
`

const load = (plugins: string) => `
const query = new URLSearchParams(location.search)
// Segment's CDN is not asked for settings: inline ones, and no Segment.io destination.
const [analytics] = await AnalyticsBrowser.load(
  { writeKey: 'segment-write-key', cdnSettings: { integrations: {}, metrics: { sampleRate: 0 } }, plugins: ${plugins} },
  { integrations: { 'Segment.io': false } },
)
const errors = []
analytics.on('error', (error) => errors.push(String(error.reason && error.reason.message)))
window.analytics = analytics
window.pluginErrors = errors
`

const PAGES: Record<PageName, string> = {
  'without-plugin': `import { AnalyticsBrowser } from '@segment/analytics-next'
${load('[]')}`,
  'with-plugin': `import { AnalyticsBrowser } from '@segment/analytics-next'
import { createQualtricsPlugin } from '@qualtrics-relay/browser-plugin'
${load(`[
    createQualtricsPlugin({
      proxyUrl: query.get('proxy') ?? '/relay',
      writeKey: query.get('writeKey') ?? 'wk_site',
      flushIntervalMs: 200,
    }),
  ]`)}`,
  // What the part of core the plugin imports costs by itself (for the breakdown).
  'core-only': `import { AnalyticsBrowser } from '@segment/analytics-next'
import { mapEvent, RelayError, SETTINGS_VERSION, describeValue, formatIssues } from '@qualtrics-relay/core'
window.core = [mapEvent, RelayError, SETTINGS_VERSION, describeValue, formatIssues]
${load('[]')}`,
}

/** npm-installs Vite and analytics-next (the workspace's versions), the given tarballs and any `extra`
 *  packages into `dir`, and writes the pages. */
export async function createViteApp(dir: string, tarballs: string[], extra: string[] = []): Promise<void> {
  await npmInstall(dir, [
    `vite@${workspaceVersion('vite')}`,
    `@segment/analytics-next@${workspaceVersion('@segment/analytics-next')}`,
    ...extra,
    ...tarballs,
  ])
  for (const [name, code] of Object.entries(PAGES)) {
    mkdirSync(join(dir, name), { recursive: true })
    writeFileSync(join(dir, name, 'index.html'), HTML)
    writeFileSync(join(dir, name, 'main.js'), code)
  }
}

export interface PageBuild {
  outDir: string
  /** Sum over the emitted JavaScript files of each file's gzip -9 size (each is fetched on its own). */
  gzip: number
  /** Sum of the emitted JavaScript files' sizes. */
  minified: number
}

/** A Vite production build of one page, with Vite's defaults. */
export async function buildPage(dir: string, page: PageName): Promise<PageBuild> {
  const outDir = join(dir, 'out', page)
  await run(
    process.execPath,
    [join('node_modules', 'vite', 'bin', 'vite.js'), 'build', page, '--outDir', outDir, '--emptyOutDir'],
    { cwd: dir },
  )
  let gzip = 0
  let minified = 0
  const assets = join(outDir, 'assets')
  for (const file of readdirSync(assets)) {
    if (!file.endsWith('.js')) continue
    const code = readFileSync(join(assets, file))
    minified += code.length
    gzip += gzipSync(code, { level: 9 }).length
  }
  return { outDir, gzip, minified }
}
