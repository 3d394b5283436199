// Size budget: everything the plugin adds to a page (its code plus the core it uses), bundled,
// minified and gzipped at level 9, must stay within BUDGET bytes. Prints the size, the share of the
// plugin's own code and of core, and exits 1 when over budget.
// Usage: node packages/browser-plugin/scripts/size.mjs [--json]
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

export const BUDGET = 3 * 1024

const root = fileURLToPath(new URL('..', import.meta.url))

async function measure(options = {}) {
  const result = await build({
    entryPoints: ['src/index.ts'],
    absWorkingDir: root,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2018',
    external: ['@segment/analytics-next'],
    write: false,
    metafile: true,
    logLevel: 'silent',
    ...options,
  })
  const code = result.outputFiles[0].contents
  return { minified: code.length, gzip: gzipSync(code, { level: 9 }).length, metafile: result.metafile }
}

const total = await measure()
// The plugin alone: the same bundle with core left out.
const own = await measure({ external: ['@segment/analytics-next', '@qualtrics-relay/core'] })
const inputs = Object.values(total.metafile.outputs)[0].inputs
const byFile = Object.entries(inputs)
  .map(([file, { bytesInOutput }]) => ({ file: file.replace(/^.*?packages\//, ''), bytes: bytesInOutput }))
  .filter((f) => f.bytes > 0)
  .sort((a, b) => b.bytes - a.bytes)

const report = {
  budget: BUDGET,
  gzip: total.gzip,
  minified: total.minified,
  pluginOnlyGzip: own.gzip,
  coreShareGzip: total.gzip - own.gzip,
  withinBudget: total.gzip <= BUDGET,
  files: byFile,
}

if (process.argv.includes('--json')) console.log(JSON.stringify(report, null, 2))
else {
  console.log(
    `browser plugin + core: ${total.gzip} B gzip (${total.minified} B minified), budget ${BUDGET} B`,
  )
  console.log(`  plugin's own code: ${own.gzip} B gzip; core adds ${report.coreShareGzip} B`)
  for (const f of byFile) console.log(`  ${String(f.bytes).padStart(6)} B minified  ${f.file}`)
  console.log(report.withinBudget ? 'within budget' : `OVER BUDGET by ${total.gzip - BUDGET} B`)
}
process.exitCode = report.withinBudget ? 0 : 1
