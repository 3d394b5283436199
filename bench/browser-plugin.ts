// Browser plugin size (issue 5): everything the plugin adds to a page, from the package's own size
// script (the one CI enforces), beside Segment's browser-actions runtime.
import { BUDGET, LIMIT, measureSize } from '../packages/browser-plugin/scripts/size'
import { kb, type BenchSection } from './lib'

// Measured in shared/spec/analytics-plugins.md §3.4 (esbuild, minified ESM, gzip -9): the runtime that
// Segment's browser action destinations ship (generatePlugins + FQL + mapping-kit + liquidjs).
const SEGMENT_RUNTIME_GZIP = 34.5 * 1024

export async function runBrowserPluginBench(): Promise<BenchSection[]> {
  const r = await measureSize()
  return [
    {
      title: 'Browser plugin: size on the page',
      command: 'pnpm size (packages/browser-plugin/scripts/size.ts)',
      markdown: [
        'The plugin with the part of core it imports, bundled by esbuild (minified ESM, es2018), gzip -9;',
        '`@segment/analytics-next` itself excluded (the page has it already).',
        '',
        '| bundle | gzip |',
        '|---|---|',
        `| plugin + core, total | **${kb(r.gzip)}** (${kb(r.minified)} minified) |`,
        `| — core's part (${r.coreImports.join(', ')}) | ${kb(r.coreAloneGzip)} |`,
        `| — the plugin's own code | ${kb(r.pluginAddsGzip)} |`,
        `| Segment's browser-actions runtime (figure from shared/spec/analytics-plugins.md §3.4, not re-measured) | ${kb(SEGMENT_RUNTIME_GZIP)} |`,
        '',
        `Ratio: ${(r.gzip / SEGMENT_RUNTIME_GZIP).toFixed(2)}× Segment's runtime (${(SEGMENT_RUNTIME_GZIP / r.gzip).toFixed(1)}× smaller).`,
        `Target ${kb(BUDGET)}: ${r.withinBudget ? 'met' : `**not met** (over by ${kb(r.gzip - BUDGET)})`}. CI enforces a ratchet of ${kb(LIMIT)} so it can only shrink.`,
      ].join('\n'),
    },
  ]
}
