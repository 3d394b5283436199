// Node plugin benchmark (issue 6): events/s through analytics-node with the plugin in direct mode
// against the sandbox, and Qualtrics requests per event, beside the same stream through the proxy and
// beside analytics-node with a do-nothing destination. The measurement lives with the package.
import { runNodePluginThroughput } from '../packages/node-plugin/bench/throughput'
import { fmt, type BenchSection } from './lib'

export async function runNodePluginBench(): Promise<BenchSection[]> {
  const r = await runNodePluginThroughput({ events: 5_000, users: 250 })
  const row = (label: string, m: typeof r.direct) =>
    `| ${label} | ${fmt(m.acceptedPerSecond)} | ${fmt(m.deliveredPerSecond)} | ${m.qualtricsRequestsPerEvent.toFixed(3)} | ${m.proxyRequestsPerEvent?.toFixed(3) ?? '—'} | ${m.duplicateKeys} |`
  return [
    {
      title: 'Node plugin: throughput',
      command: 'pnpm bench node-plugin',
      markdown: [
        `${fmt(r.events)} "Transaction Created" events over ${fmt(r.users)} users through a real analytics-node`,
        'instance (its own HTTP disabled), delivered to the sandbox; rate limits off on both sides. Accepted:',
        'until `closeAndFlush()` resolved; delivered: until every transaction was in the sandbox.',
        '',
        '| path | accepted events/s | delivered events/s | Qualtrics requests/event | proxy posts/event | duplicate keys |',
        '|---|---|---|---|---|---|',
        `| analytics-node, do-nothing destination (ceiling) | ${fmt(r.baseline.acceptedPerSecond)} | — | — | — | — |`,
        row('plugin, direct mode (core delivery engine)', r.direct),
        row('plugin via the proxy', r.proxy),
      ].join('\n'),
    },
  ]
}
