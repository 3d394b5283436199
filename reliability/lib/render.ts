// Renders RELIABILITY.md from reliability/results.json: every figure next to the command that
// reproduces it. Nothing in the file is written by hand except the fixed text below.
import type { Figure } from './figures'
import type { CheckResult, Machine, Results, SectionResult } from './results'

/** The parts in reading order, with their titles. Files not listed come last. */
export const PARTS: readonly { file: string; title: string }[] = [
  { file: 'reliability/kill-storm.test.ts', title: 'SIGKILL storm' },
  { file: 'reliability/cluster-storm.test.ts', title: 'Cluster storm: a fleet on one PostgreSQL' },
  { file: 'reliability/crash-window.test.ts', title: 'A crash between a write and its answer' },
  { file: 'reliability/shutdown.test.ts', title: 'Shutdown' },
  { file: 'reliability/sandbox-faults.test.ts', title: 'Qualtrics misbehaving' },
  { file: 'reliability/long-outage.test.ts', title: 'A long Qualtrics outage' },
  { file: 'reliability/hostile-input.test.ts', title: 'Hostile input (property-based)' },
  { file: 'reliability/token-misuse.test.ts', title: 'Token misuse' },
  { file: 'reliability/load.test.ts', title: 'Sustained load' },
  { file: 'reliability/resources.test.ts', title: 'Slow clients, a failing machine, look-alike users' },
  { file: 'reliability/store-safety.test.ts', title: 'The store: sources, fsync, one process, damage' },
]

/** Bugs the suite found in the packages; each is fixed, and the check that found it stays as a regression test. */
const FOUND: readonly { commit: string; text: string }[] = [
  {
    commit: '22d9737',
    text: 'Proxy: a request cut by the server’s request deadline (a body trickled too slowly) was answered 400 by the handler for requests Node’s parser refuses — final for a plugin, which would drop the items of a merely slow network. Now 408, which plugins send again. Check: “a slowloris of 2,000 half-sent requests at 1,024 descriptors leaves /healthz and a normal client served” (slow clients).',
  },
  {
    commit: 'e93c598',
    text: 'Delivery engine and stores: an item claimed again after its owner’s lease expired (the process was SIGKILLed) was sent again without first looking for its transaction, so a transaction written just before the kill was written twice under the same key. Checks: “does not write the transaction again” (crash window) and “delivers every answered purchase exactly once” (SIGKILL storm).',
  },
  {
    commit: 'e93c598',
    text: 'Rate limiter: tokens accrued during a Retry-After pause, so every pause ended with a burst that the brand limit refused again — 59 % of requests were answered 429 with a brand bucket of 3. Check: “paces itself after a Retry-After pause” (Qualtrics misbehaving).',
  },
  {
    commit: 'df49989',
    text: 'Proxy logging: once the process reading its stdout had gone away, SIGTERM never ended the proxy — pino’s exit flush retried the EPIPE write forever with the event loop blocked, and only SIGKILL stopped it. Check: “stops on SIGTERM when the process reading its logs has gone away” (shutdown).',
  },
]

const BROWSER_TESTS = [
  [
    'packages/browser-plugin/test/e2e.test.ts',
    'on pagehide mid-batch, keepalive and beacon requests (text/plain) reach Qualtrics once',
  ],
  [
    'packages/browser-plugin/test/e2e.test.ts',
    'keeps the items while the proxy is down and delivers them once it is back on the same port',
  ],
  [
    'packages/browser-plugin/test/e2e.test.ts',
    'a repeated messageId is delivered once even across plugin instances (the proxy deduplicates)',
  ],
  [
    'packages/browser-plugin/test/delivery.test.ts',
    'holds items while navigator.onLine is false and sends them on "online"',
  ],
  [
    'packages/browser-plugin/test/delivery.test.ts',
    'retries while the proxy is down and delivers once it is back',
  ],
  [
    'packages/browser-plugin/test/delivery.test.ts',
    'retries 5xx and 429 (after Retry-After) and delivers once',
  ],
  ['packages/browser-plugin/test/persistence.test.ts', 'delivers a persisted queue once from the next page'],
  [
    'packages/browser-plugin/test/persistence.test.ts',
    'the remaining tab takes over the items of a tab that closed while the proxy was down',
  ],
] as const

function titleOf(section: SectionResult): string {
  return PARTS.find((p) => p.file === section.file)?.title ?? section.file
}

function orderOf(section: SectionResult): number {
  const i = PARTS.findIndex((p) => p.file === section.file)
  return i < 0 ? PARTS.length : i
}

function anchor(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .trim()
    .replace(/ /g, '-')
}

function mark(check: CheckResult): string {
  if (check.state === 'skipped') return '⏭ skipped'
  if (check.expectedFailure)
    return check.state === 'passed' ? '🐞 fails as expected (known bug)' : '❗ passed — remove `.fails`'
  return check.state === 'passed' ? '✅ passed' : '❌ failed'
}

function value(f: Figure): string {
  const v = typeof f.value === 'number' ? f.value.toLocaleString('en-US') : String(f.value)
  return f.unit === undefined ? v : `${v} ${f.unit}`
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

function machineText(m: Machine): string {
  return `${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}`
}

function passedCount(section: SectionResult): string {
  const ok = section.checks.filter((c) => c.state === 'passed').length
  return `${ok}/${section.checks.length}`
}

function renderSection(section: SectionResult): string {
  const lines: string[] = []
  lines.push(`## ${titleOf(section)}`, '')
  if (section.description) lines.push(section.description, '')
  lines.push(
    `Reproduce: \`${section.command}\` — last run ${section.ranAt}, ${section.durationSeconds} s, on ${machineText(section.machine)}.`,
    '',
  )
  for (const check of section.checks) {
    lines.push(
      `### ${cell(check.name)}`,
      '',
      `${mark(check)} in ${check.durationMs < 1000 ? `${check.durationMs} ms` : `${(check.durationMs / 1000).toFixed(1)} s`}`,
      '',
    )
    for (const n of check.notes) lines.push(`> ${n}`, '')
    if (check.figures.length > 0) {
      lines.push('| figure | value |', '| --- | ---: |')
      for (const f of check.figures) lines.push(`| ${cell(f.label)} | ${cell(value(f))} |`)
      lines.push('')
    }
  }
  return lines.join('\n')
}

export function renderReliability(results: Results): string {
  const sections = Object.values(results.sections).sort((a, b) => orderOf(a) - orderOf(b))
  const lines: string[] = [
    '# Reliability',
    '',
    '<!-- Generated by `pnpm test:reliability` (reliability/lib/render.ts) from reliability/results.json. Do not edit: run the suite, or re-render with `pnpm exec tsx reliability/render.ts`. -->',
    '',
    'What the reliability suite proves about the proxy, under faults, load and hostile input: nothing accepted is lost,',
    'nothing is written twice, no one gets in. Each part below lists its checks and the figures it measured, with the',
    'command that reproduces them. Everything runs on 127.0.0.1 against the sandbox; random choices are seeded.',
    '',
  ]
  if (results.fullRun) {
    const r = results.fullRun
    lines.push(
      `Last full run: ${r.at}, **${r.passed ? 'all checks as expected' : 'FAILED'}** in ${r.durationSeconds} s (\`${r.command}\`).`,
      '',
    )
  }
  lines.push('| part | checks as expected | time | reproduce |', '| --- | ---: | ---: | --- |')
  for (const s of sections) {
    const title = titleOf(s)
    lines.push(
      `| [${title}](#${anchor(title)}) | ${passedCount(s)} | ${s.durationSeconds} s | \`${s.command}\` |`,
    )
  }
  lines.push('')

  const known = sections.flatMap((s) => s.checks.filter((c) => c.expectedFailure).map((c) => ({ s, c })))
  const limits = sections.flatMap((s) =>
    s.checks.filter((c) => !c.expectedFailure && c.notes.length > 0).map((c) => ({ s, c })),
  )
  lines.push('## Bugs found by this suite', '')
  for (const f of FOUND) lines.push(`- ${f.text} Fixed in ${f.commit}.`)
  lines.push('')
  if (known.length > 0 || limits.length > 0) {
    lines.push('## Known bugs and limits', '')
    for (const { s, c } of known) {
      lines.push(
        `- 🐞 **${cell(c.name)}** (${titleOf(s)}, marked \`it.fails\`): ${c.notes.join(' ') || 'see the test.'}`,
      )
    }
    for (const { s, c } of limits) lines.push(`- ${cell(c.name)} (${titleOf(s)}): ${c.notes.join(' ')}`)
    lines.push('')
  }

  for (const s of sections) lines.push(renderSection(s))

  lines.push(
    '## The browser side',
    '',
    'Page closed mid-batch, offline spells and the proxy going down and up are covered by the browser plugin’s own',
    'tests (jsdom, real proxy and sandbox), run by `pnpm test`:',
    '',
  )
  for (const [file, name] of BROWSER_TESTS) lines.push(`- \`${file}\`: ${name}`)
  lines.push('')
  return lines.join('\n')
}
