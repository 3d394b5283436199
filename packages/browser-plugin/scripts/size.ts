// Size budget: everything the plugin adds to a page (its code plus the core it uses), bundled,
// minified and gzipped at level 9, must stay within BUDGET bytes. Prints the size, the share of the
// plugin's own code and of core, and exits 1 when over budget.
// Usage: npx tsx packages/browser-plugin/scripts/size.ts [--json]   (or `pnpm --filter @qualtrics-relay/browser-plugin size`)
import { build, type BuildOptions } from 'esbuild'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

export const BUDGET = 3 * 1024

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
    withinBudget: total.gzip <= BUDGET,
    files: byFile,
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const report = await measureSize()
  const { gzip, minified, coreAloneGzip, coreImports, files } = report
  if (process.argv.includes('--json')) console.log(JSON.stringify(report, null, 2))
  else {
    console.log(`browser plugin + core: ${gzip} B gzip (${minified} B minified); budget ${BUDGET} B`)
    console.log(`  core alone (${coreImports.join(', ')}): ${coreAloneGzip} B gzip`)
    console.log(`  the plugin adds: ${report.pluginAddsGzip} B gzip`)
    for (const f of files) console.log(`  ${String(f.bytes).padStart(6)} B minified  ${f.file}`)
    console.log(report.withinBudget ? 'within budget' : `OVER BUDGET by ${gzip - BUDGET} B`)
  }
  process.exitCode = report.withinBudget ? 0 : 1
}
