// Size of everything the plugin adds to a page (its code plus the core it uses), bundled, minified and
// gzipped at level 9. Prints the size against the target (BUDGET) and the share of plugin and core, and
// exits 1 when over the enforced LIMIT (a ratchet: lower it whenever the bundle shrinks).
// Usage: npx tsx packages/browser-plugin/scripts/size.ts [--json]   (or `pnpm --filter @qualtrics-relay/browser-plugin size`)
import { build, type BuildOptions } from 'esbuild'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

/** The target of issue 5: 3 KB gzip for everything the plugin adds to a page. Not met yet. */
export const BUDGET = 3 * 1024
/** What CI enforces until the target is met: the measured size rounded up to 64 B, lowered whenever the
 * bundle shrinks; raised only with a required behaviour (last: 6,336 → 6,400 B, +44 B gzip, for a refusal
 * of the settings (401/403/404) naming the proxy's code and message, replacing cached settings, and
 * logged once). */
export const LIMIT = 6400

const root = fileURLToPath(new URL('..', import.meta.url))

async function measure(options: BuildOptions = {}) {
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
  const code = result.outputFiles![0]!.contents
  return {
    text: new TextDecoder().decode(code),
    minified: code.length,
    gzip: gzipSync(code, { level: 9 }).length,
    metafile: result.metafile!,
  }
}

export interface SizeReport {
  budget: number
  /** The plugin with the core it uses: minified ESM, gzip -9. */
  gzip: number
  minified: number
  /** Core alone, as much of it as the plugin imports. */
  coreAloneGzip: number
  /** gzip - coreAloneGzip */
  pluginAddsGzip: number
  coreImports: string[]
  withinBudget: boolean
  /** The enforced ceiling (see LIMIT). */
  limit: number
  withinLimit: boolean
  files: { file: string; bytes: number }[]
}

/** Builds the bundle the way a page would get it and measures it (for CI and BENCHMARKS.md). */
export async function measureSize(): Promise<SizeReport> {
  const total = await measure()
  // The plugin's own code: the same bundle with core left out; then core alone, as much of it as the
  // plugin imports, to tell the two shares apart.
  const own = await measure({ external: ['@segment/analytics-next', '@qualtrics-relay/core'] })
  const imported = [...own.text.matchAll(/import\{([^}]*)\}from"@qualtrics-relay\/core"/g)]
    .flatMap((m) => m[1]!.split(','))
    .map((spec) => spec.split(' as ')[0]!.trim())
    .filter((name, i, all) => all.indexOf(name) === i)
  const core = await measure({
    entryPoints: [],
    stdin: {
      contents: `export { ${imported.join(', ')} } from '@qualtrics-relay/core'`,
      resolveDir: root,
      loader: 'ts',
    },
  })
  const inputs = Object.values(total.metafile.outputs)[0]!.inputs
  const byFile = Object.entries(inputs)
    .map(([file, { bytesInOutput }]) => ({ file: file.replace(/^.*?packages\//, ''), bytes: bytesInOutput }))
    .filter((f) => f.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes)

  return {
    budget: BUDGET,
    gzip: total.gzip,
    minified: total.minified,
    coreAloneGzip: core.gzip,
    pluginAddsGzip: total.gzip - core.gzip,
    coreImports: imported,
    limit: LIMIT,
    withinBudget: total.gzip <= BUDGET,
    withinLimit: total.gzip <= LIMIT,
    files: byFile,
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const report = await measureSize()
  const { gzip, minified, coreAloneGzip, coreImports, files } = report
  if (process.argv.includes('--json')) console.log(JSON.stringify(report, null, 2))
  else {
    console.log(
      `browser plugin + core: ${gzip} B gzip (${minified} B minified); target ${BUDGET} B, limit ${LIMIT} B`,
    )
    console.log(`  core alone (${coreImports.join(', ')}): ${coreAloneGzip} B gzip`)
    console.log(`  the plugin adds: ${report.pluginAddsGzip} B gzip`)
    for (const f of files) console.log(`  ${String(f.bytes).padStart(6)} B minified  ${f.file}`)
    console.log(
      report.withinBudget ? 'within the target' : `over the ${BUDGET} B target by ${gzip - BUDGET} B`,
    )
    console.log(
      report.withinLimit ? 'within the enforced limit' : `OVER THE ENFORCED LIMIT by ${gzip - LIMIT} B`,
    )
  }
  process.exitCode = report.withinLimit ? 0 : 1
}
