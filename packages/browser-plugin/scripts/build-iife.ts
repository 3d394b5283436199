// The script-tag build: one minified IIFE, core included, exposing `window.QualtricsRelay`
// (`QualtricsRelay.createQualtricsPlugin(...)`), for sites that load analytics.js from the snippet.
// Usage: npx tsx packages/browser-plugin/scripts/build-iife.ts [--stdout]  → dist/qualtrics-relay.min.js
import { build } from 'esbuild'
import { writeFileSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const GLOBAL_NAME = 'QualtricsRelay'
const root = fileURLToPath(new URL('..', import.meta.url))

/** Builds the IIFE and returns its text. */
export async function buildIife(): Promise<string> {
  const result = await build({
    entryPoints: ['src/index.ts'],
    absWorkingDir: root,
    bundle: true,
    minify: true,
    format: 'iife',
    globalName: GLOBAL_NAME,
    platform: 'browser',
    target: 'es2018',
    write: false,
    logLevel: 'silent',
  })
  return result.outputFiles[0]!.text
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const code = await buildIife()
  if (process.argv.includes('--stdout')) {
    process.stdout.write(code)
    process.exit(0)
  }
  mkdirSync(`${root}dist`, { recursive: true })
  writeFileSync(`${root}dist/qualtrics-relay.min.js`, code)
  console.log(`dist/qualtrics-relay.min.js: ${code.length} B`)
}
