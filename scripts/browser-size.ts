// `pnpm size`: what the browser plugin really adds to a page, as installed. Builds and packs core and the
// browser plugin, npm-installs the tarballs with Vite and analytics-next into a scratch app outside the
// workspace, makes Vite production builds of the same page with and without the plugin, and compares
// their gzip sizes. Exits 1 above LIMIT (a ratchet).
//
//   tsx scripts/browser-size.ts [--no-build] [--json] [--write]
//
// --no-build packs the dist folders as they are; --write replaces the "Browser plugin size, as installed"
// section of BENCHMARKS.md with this run's figures.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { makeScratchDir, removeScratchDir } from './lib/scratch'
import { buildPage, createViteApp } from './lib/vite-app'
import { buildPackages, packPackages, REPO_ROOT, workspaceVersion } from './lib/workspace'

/** Issue 12's target for the gzip bytes the plugin adds to a Vite production build. */
export const TARGET = 5500
/**
 * What CI enforces: the last measured figure plus a small margin, lowered whenever the figure drops,
 * raised only with a behaviour the issue asks for (say so here). The margin (about 1 %) absorbs the few
 * bytes gzip moves when unrelated code around the plugin changes; Vite and analytics-next are pinned
 * to the workspace's versions, so the build itself does not drift.
 * Last: 5,464 B measured → 5,489 B (issue 12: format checks — Qualtrics id forms, date parsing and
 * formatting — moved to the proxy, which re-checks every item: 5,693 → 5,464 B). Before: 5,693 B
 * measured → 5,723 B (issue 12: core shipped one file per module, definitions left out,
 * 6,958 → 5,741 B; +50 B for the settings refusal that issue 12 asks the plugin to report; −12 B when
 * runMapping's value rendering became describeValue; −86 B from smaller code for the same behaviours:
 * one request helper that parses the answer and times the retry, Blob for byte sizes, the options'
 * issues built by core's issue(), RelayError handing its options to Error, describeValue and
 * toQualtricsDate without cases the language already covers, one isPlainObject for mappings and
 * field checks).
 */
export const LIMIT = 5489
/** Measured the same way at the commit before core was split into modules. */
const BEFORE_ISSUE_12 = 6958

export interface InstalledSize {
  vite: string
  analyticsNext: string
  /** gzip -9 of the page's JavaScript, summed per file. */
  withoutPlugin: number
  withPlugin: number
  /** withPlugin - withoutPlugin: what users pay. */
  added: number
  addedMinified: number
  /** The part of core the plugin imports, alone on the page. */
  coreAdded: number
  /** added - coreAdded. */
  pluginOwn: number
  /** The script-tag build (dist/qualtrics-relay.min.js) on its own, gzip -9. */
  scriptTagGzip: number
  limit: number
  target: number
}

/** Builds (unless `build` is false), packs, installs and measures; removes its scratch folder. */
export async function measureInstalledSize({ build = true } = {}): Promise<InstalledSize> {
  if (build) await buildPackages()
  const dir = makeScratchDir('size')
  try {
    const tarballs = await packPackages(dir, ['core', 'browser-plugin'])
    const app = join(dir, 'app')
    await createViteApp(app, [tarballs.core, tarballs['browser-plugin']])
    return await measureApp(app)
  } finally {
    removeScratchDir(dir)
  }
}

/** Measures in an app made by createViteApp (the consumer check reuses its own). */
export async function measureApp(app: string): Promise<InstalledSize> {
  const without = await buildPage(app, 'without-plugin')
  const withPlugin = await buildPage(app, 'with-plugin')
  const coreOnly = await buildPage(app, 'core-only')
  const scriptTag = readFileSync(
    join(app, 'node_modules', '@qualtrics-relay', 'browser-plugin', 'dist', 'qualtrics-relay.min.js'),
  )
  const added = withPlugin.gzip - without.gzip
  const coreAdded = coreOnly.gzip - without.gzip
  return {
    vite: workspaceVersion('vite'),
    analyticsNext: workspaceVersion('@segment/analytics-next'),
    withoutPlugin: without.gzip,
    withPlugin: withPlugin.gzip,
    added,
    addedMinified: withPlugin.minified - without.minified,
    coreAdded,
    pluginOwn: added - coreAdded,
    scriptTagGzip: gzipSync(scriptTag, { level: 9 }).length,
    limit: LIMIT,
    target: TARGET,
  }
}

const b = (n: number) => `${n.toLocaleString('en-US')} B`

export const SECTION_TITLE = 'Browser plugin size, as installed'
export const SECTION_COMMAND = 'pnpm size (scripts/browser-size.ts)'

/** The BENCHMARKS.md section body for a measurement. */
export function sizeMarkdown(r: InstalledSize): string {
  return [
    '`@qualtrics-relay/core` and `@qualtrics-relay/browser-plugin` packed with `pnpm pack`, installed with npm',
    `into a scratch app outside the workspace with Vite ${r.vite} and analytics-next ${r.analyticsNext}; two`,
    'Vite production builds (defaults) of the same page, which loads analytics-next with inline CDN settings,',
    'with and without `createQualtricsPlugin(...)`. gzip -9 of each emitted JavaScript file, summed.',
    '',
    '| page | gzip |',
    '|---|---|',
    `| analytics-next alone | ${b(r.withoutPlugin)} |`,
    `| analytics-next + the plugin | ${b(r.withPlugin)} |`,
    `| **added by the plugin** | **${b(r.added)}** (${b(r.addedMinified)} minified) |`,
    `| — of which the part of core it imports (\`mapEvent\`, errors, \`SETTINGS_VERSION\`), alone on the page | ${b(r.coreAdded)} |`,
    `| — of which the plugin's own code | ${b(r.pluginOwn)} |`,
    `| the script-tag build (\`dist/qualtrics-relay.min.js\`, core included) on its own | ${b(r.scriptTagGzip)} |`,
    '',
    `Target ≤ ${b(r.target)} added: ${r.added <= r.target ? 'met' : `**not met** (over by ${b(r.added - r.target)})`}.` +
      ` CI enforces a ratchet of ${b(r.limit)} (\`LIMIT\` in scripts/browser-size.ts).`,
    `Before issue 12, with core shipped as one bundled file (its action definitions could not be left out),`,
    `the plugin added ${b(BEFORE_ISSUE_12)} (16,549 B minified), measured the same way.`,
  ].join('\n')
}

/** Replaces (or appends) the section in BENCHMARKS.md. */
export function writeSizeSection(r: InstalledSize): void {
  const file = join(REPO_ROOT, 'BENCHMARKS.md')
  const text = readFileSync(file, 'utf8')
  const section = `## ${SECTION_TITLE}\n\nReproduce: \`${SECTION_COMMAND}\`\n\n${sizeMarkdown(r)}\n`
  const start = text.indexOf(`## ${SECTION_TITLE}\n`)
  const end = start < 0 ? -1 : text.indexOf('\n## ', start + 1)
  const next =
    start < 0
      ? `${text.trimEnd()}\n\n${section}`
      : `${text.slice(0, start)}${section}${end < 0 ? '' : text.slice(end)}`
  writeFileSync(file, next)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2)
  const r = await measureInstalledSize({ build: !args.includes('--no-build') })
  if (args.includes('--json')) console.log(JSON.stringify(r, null, 2))
  else {
    console.log(`browser plugin, as installed (Vite ${r.vite}, analytics-next ${r.analyticsNext}):`)
    console.log(`  adds ${b(r.added)} gzip (${b(r.addedMinified)} minified) to the page`)
    console.log(`  core's part ${b(r.coreAdded)}, the plugin's own ${b(r.pluginOwn)}`)
    console.log(`  target ${b(r.target)}, enforced limit ${b(r.limit)}`)
  }
  if (args.includes('--write')) writeSizeSection(r)
  if (r.added > r.limit) {
    console.log(`OVER THE ENFORCED LIMIT by ${b(r.added - r.limit)}`)
    process.exitCode = 1
  } else if (r.limit - r.added > 64) {
    console.log(`${b(r.limit - r.added)} under the limit: lower LIMIT in scripts/browser-size.ts`)
  }
}
