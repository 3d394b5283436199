// Core benchmarks (issue 2): the browser-safe bundle size and the speed of trigger + mapping
// evaluation for the three default mappings, each beside Segment's own evaluators in the same run.
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  mapEvent,
  matchesTrigger,
  parseMappingSet,
  runMapping,
  type MappingSpec,
} from '@qualtrics-relay/core'
import { bundleSize, fmt, kb, throughput, type BenchSection } from './lib'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const coreDir = join(root, 'packages/core')
const requireFromCore = createRequire(join(coreDir, 'package.json'))

/** The three default mappings, as the proxy would serve them (shared with bench/browser-plugin-speed.ts). */
export const MAPPINGS = parseMappingSet([
  { id: 'contact', action: 'addContactToXmd', fields: { directoryId: 'POOL_012345678901234' } },
  {
    id: 'purchase',
    action: 'upsertContactTransaction',
    fields: { directoryId: 'POOL_012345678901234', mailingListId: 'CG_012345678901234' },
  },
  {
    id: 'feedback',
    action: 'triggerXflowWorkflow',
    trigger: 'type = "track" and event = "Feedback Requested"',
    fields: { workflowUrl: 'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=x' },
  },
])

/** identify, Transaction Created, Feedback Requested (the three mappings want them), then Product Viewed
 * and a page (none does). Shared with bench/browser-plugin-speed.ts. */
export function sampleEvents(): Record<string, unknown>[] {
  const base = {
    userId: 'user-42',
    anonymousId: 'anon-42',
    messageId: 'msg-1',
    timestamp: '2026-11-28T12:00:00.000Z',
    context: {
      page: { path: '/checkout' },
      traits: { email: 'ann@example.com', qualtricsMailingListId: 'CG_1' },
    },
  }
  return [
    {
      ...base,
      type: 'identify',
      traits: { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee', plan: 'pro' },
    },
    {
      ...base,
      type: 'track',
      event: 'Transaction Created',
      properties: { total: 42.5, currency: 'EUR', items: 3 },
    },
    { ...base, type: 'track', event: 'Feedback Requested', properties: { reason: 'checkout' } },
    { ...base, type: 'track', event: 'Product Viewed', properties: { sku: 'abc' } },
    { ...base, type: 'page', name: 'Home', properties: { path: '/' } },
  ]
}

function ours(mappings: readonly MappingSpec[], events: Record<string, unknown>[]) {
  return () => {
    for (const event of events)
      for (const m of mappings) if (matchesTrigger(m.trigger, event)) runMapping(m.program, event)
  }
}

export async function runCoreBench(): Promise<BenchSection[]> {
  const { parseFql, validate } = requireFromCore('@segment/destination-subscriptions') as {
    parseFql: (s: string) => unknown
    validate: (ast: unknown, event: unknown) => boolean
  }
  const { transform } = requireFromCore('@segment/actions-core/mapping-kit') as {
    transform: (mapping: unknown, data: unknown) => unknown
  }
  const events = sampleEvents()
  const segmentPerEvent = () => {
    for (const event of events)
      for (const m of MAPPINGS) if (validate(parseFql(m.triggerText), event)) transform(m.fields, event)
  }
  const parsed = MAPPINGS.map((m) => parseFql(m.triggerText))
  const segmentCached = () => {
    for (const event of events)
      MAPPINGS.forEach((m, i) => {
        if (validate(parsed[i], event)) transform(m.fields, event)
      })
  }
  const oursRate = throughput(ours(MAPPINGS, events)) * events.length
  // What the browser plugin runs per event: triggers, mapping programs and the field checks, as mapEvent.
  const mapEventRate =
    throughput(() => {
      for (const event of events) mapEvent(MAPPINGS, event)
    }) * events.length
  const segmentRate = throughput(segmentPerEvent) * events.length
  const segmentCachedRate = throughput(segmentCached) * events.length

  const browserEntry = `export { matchesTrigger, runMapping, checkFields, mapEvent } from '@qualtrics-relay/core'`
  const oursSize = await bundleSize(browserEntry, coreDir)
  const segmentSize = await bundleSize(
    `export { parseFql, validate } from '@segment/destination-subscriptions'
     export { transform } from '@segment/actions-core/mapping-kit'`,
    coreDir,
    ['liquidjs'],
  )
  const piece = async (names: string) =>
    (await bundleSize(`export { ${names} } from '@qualtrics-relay/core'`, coreDir)).gzip

  return [
    {
      title: 'Core: browser bundle size',
      command: 'pnpm bench (bench/core.ts)',
      markdown: [
        'esbuild, minified ESM for browsers (es2018), gzip -9. "Ours" is what a browser bundle includes: triggers',
        'and mappings compiled by the proxy, evaluated by `matchesTrigger` and `runMapping`, and the field checks',
        '(`checkFields`), joined by `mapEvent`. The compilers (`parseTrigger`, `compileMapping`) and the rest of the',
        'payload check (data limits, workflow hosts, defaults) run on the proxy only.',
        "Segment's equivalent is `parseFql` + `validate` (destination-subscriptions) + `transform` (actions-core",
        'mapping-kit) with liquidjs left out.',
        '',
        '| bundle | minified | gzip |',
        '|---|---|---|',
        `| ours: triggers + mappings + field checks | ${kb(oursSize.minified)} | **${kb(oursSize.gzip)}** |`,
        `| — of which \`matchesTrigger\` alone | | ${kb(await piece('matchesTrigger'))} |`,
        `| — of which \`runMapping\` alone | | ${kb(await piece('runMapping'))} |`,
        `| — of which \`checkFields\` alone | | ${kb(await piece('checkFields'))} |`,
        `| Segment: FQL + mapping-kit (no liquid) | ${kb(segmentSize.minified)} | ${kb(segmentSize.gzip)} |`,
        '',
        `Ratio: ours is **${((oursSize.gzip / segmentSize.gzip) * 100).toFixed(0)}%** of Segment's size ` +
          `(${(segmentSize.gzip / oursSize.gzip).toFixed(1)}× smaller). Target: ≤ 2.5 KB gzip: ` +
          (oursSize.gzip <= 2560 ? 'met.' : `**not met** (over by ${kb(oursSize.gzip - 2560)}).`),
      ].join('\n'),
    },
    {
      title: 'Core: trigger + mapping evaluation speed',
      command: 'pnpm bench (bench/core.ts)',
      markdown: [
        `The three default mappings over ${events.length} sample events (identify, Transaction Created, Feedback`,
        'Requested, an unmapped track, a page). Median of 5 rounds after a warm-up, same process.',
        '',
        '| evaluator | events/s | ours is |',
        '|---|---|---|',
        `| ours: \`matchesTrigger\` + \`runMapping\` (both compiled by the proxy) | ${fmt(oursRate)} | — |`,
        `| Segment as its browser runtime runs it: \`validate(parseFql(text))\` + \`transform\` | ${fmt(segmentRate)} | **${(oursRate / segmentRate).toFixed(1)}× faster** |`,
        `| Segment with the FQL parsed once: \`validate(ast)\` + \`transform\` | ${fmt(segmentCachedRate)} | ${(oursRate / segmentCachedRate).toFixed(1)}× faster |`,
        '',
        'Target: at least 5× faster than `validate(parseFql(...))` + `transform`.',
        '',
        'Main-thread cost per event in the browser plugin path (`mapEvent`: triggers + mappings + field checks,',
        "before the item is queued), against Segment's evaluators on the same events:",
        '',
        '| per event | µs |',
        '|---|---|',
        `| ours: \`mapEvent\` | ${(1e6 / mapEventRate).toFixed(2)} |`,
        `| Segment: \`validate(parseFql(text))\` + \`transform\` (no payload checks) | ${(1e6 / segmentRate).toFixed(2)} |`,
      ].join('\n'),
    },
  ]
}
