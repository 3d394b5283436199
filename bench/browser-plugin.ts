// Browser plugin: what it adds to a page as installed (the measurement CI ratchets, scripts/browser-size.ts),
// beside Segment's browser-actions runtime; and its main-thread cost per event.
import { measureInstalledSize, SECTION_COMMAND, SECTION_TITLE, sizeMarkdown } from '../scripts/browser-size'
import { measurePluginSpeed } from './browser-plugin-speed'
import { fmt, kb, type BenchSection } from './lib'

// Measured in shared/spec/analytics-plugins.md §3.4 (esbuild, minified ESM, gzip -9): the runtime that
// Segment's browser action destinations ship (generatePlugins + FQL + mapping-kit + liquidjs).
const SEGMENT_RUNTIME_GZIP = 34.5 * 1024

export async function runBrowserPluginBench(): Promise<BenchSection[]> {
  const r = await measureInstalledSize()
  const speed = await measurePluginSpeed()
  const us = (n: number) => n.toFixed(2)
  return [
    {
      title: SECTION_TITLE,
      command: SECTION_COMMAND,
      markdown: [
        sizeMarkdown(r),
        '',
        `Segment's browser-actions runtime (figure from shared/spec/analytics-plugins.md §3.4, esbuild, not re-measured): ${kb(SEGMENT_RUNTIME_GZIP)}; ` +
          `the plugin adds ${(r.added / SEGMENT_RUNTIME_GZIP).toFixed(2)}× that.`,
      ].join('\n'),
    },
    {
      title: 'Browser plugin: main-thread cost per event',
      command: 'pnpm bench browser-plugin (bench/browser-plugin-speed.ts)',
      markdown: [
        "The real plugin's hooks in a jsdom window, called with real analytics-next `Context`s (made before the",
        'clock starts), inline settings (the three default mappings), jsdom localStorage, `flushIntervalMs: 0`,',
        'and a fetch that accepts every item at once: what is timed is the work done on the page. Median of',
        `5 rounds of 4,000 events; the batches went out meanwhile (${fmt(speed.requests)} requests, ${fmt(speed.items)} items).`,
        '',
        '| per event | µs |',
        '|---|---|',
        `| ours, whole hook: consent, trigger, mapping, payload checks, enqueue (localStorage write), batches sent | **${us(speed.matchedUs)}** |`,
        `| ours, an event no mapping wants (Product Viewed, a page) | ${us(speed.unmatchedUs)} |`,
        `| ours, trigger + mapping + payload checks alone (\`mapEvent\`) | ${us(speed.mapEventUs)} |`,
        `| Segment's evaluators on the same events: \`validate(parseFql(text))\` + \`transform\` (no checks, no queue) | ${us(speed.segmentUs)} |`,
        '',
        `Trigger + mapping: ours ${(speed.segmentUs / speed.mapEventUs).toFixed(1)}× faster than Segment's evaluators. The rest of the`,
        "whole-hook cost is the queue's own work: a JSON snapshot and a byte count per item, the queue's stored copy",
        'rebuilt on each add (so that a page closed at once still has the item), batches built and answers read.',
        'With storage off (memory only) it was not measurably lower. It varies from run to run on this shared',
        'machine: 48–101 µs over five runs on 2026-11-29.',
      ].join('\n'),
    },
  ]
}
