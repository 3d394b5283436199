// The small HTML page at `GET /`: contacts, transactions and workflow runs. Every value is escaped.

import type { SandboxSnapshot } from './sandbox'

export function escapeHtml(value: unknown): string {
  const text = typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value)
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
}

function table(title: string, headers: string[], rows: unknown[][], total: number): string {
  const head = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')
  const body =
    rows.length === 0
      ? `<tr><td colspan="${headers.length}">none</td></tr>`
      : rows.map((row) => `<tr>${row.map((cell) => `<td>${escapeHtml(cell)}</td>`).join('')}</tr>`).join('\n')
  const shown = rows.length < total ? ` (latest ${rows.length} of ${total})` : ` (${total})`
  return `<h2>${escapeHtml(title)}${escapeHtml(shown)}</h2>\n<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`
}

const LIMIT = 200

export function renderPage(
  snapshot: SandboxSnapshot,
  info: { url: string; directoryId: string; mailingListId: string; workflowUrl: string },
): string {
  const latest = <T>(items: T[]): T[] => items.slice(-LIMIT).reverse()
  const contacts = latest(snapshot.contacts).map((c) => [
    c.id,
    c.directoryId,
    c.extRef,
    c.email,
    c.phone,
    [c.firstName, c.lastName].filter(Boolean).join(' '),
    c.embeddedData,
    c.mergeCount,
    c.origin,
    c.lastModified,
  ])
  const counts = snapshot.transactionKeyCounts
  const transactions = latest(snapshot.transactions).map((t) => [
    t.id,
    t.key,
    (counts[t.key] ?? 0) > 1 ? `yes (${counts[t.key] ?? 0})` : 'no',
    t.contactId,
    t.mailingListId,
    t.transactionDate,
    t.data,
    t.createdAt,
  ])
  const runs = latest(snapshot.workflowRuns).map((r) => [
    r.id,
    r.workflowName,
    r.urlTokenId,
    r.auth,
    r.payload,
    r.receivedAt,
  ])
  const requests = latest(snapshot.requests).map((r) => [
    r.time,
    r.method,
    `${r.path}${r.query}`,
    r.route,
    r.status,
    r.ms,
    r.fault,
  ])
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Qualtrics sandbox</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2433; }
table { border-collapse: collapse; margin-bottom: 1.5rem; width: 100%; }
th, td { border: 1px solid #ccd; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; font-size: 13px; }
th { background: #eef; }
td { font-family: ui-monospace, monospace; word-break: break-all; }
code { background: #f3f3f8; padding: 0 0.25rem; }
</style>
</head>
<body>
<h1>Qualtrics sandbox</h1>
<p>Base URL <code>${escapeHtml(info.url)}</code>, datacenter <code>${escapeHtml(snapshot.datacenter)}</code>,
directory <code>${escapeHtml(info.directoryId)}</code>, mailing list <code>${escapeHtml(info.mailingListId)}</code>,
workflow URL <code>${escapeHtml(info.workflowUrl)}</code>. JSON state: <a href="/__sandbox/state">/__sandbox/state</a>.
<a href="/">Refresh</a>.</p>
${table('Contacts', ['id', 'directory', 'extRef', 'email', 'phone', 'name', 'embedded data', 'merges', 'origin', 'last modified'], contacts, snapshot.contacts.length)}
${table('Transactions', ['id', 'key', 'duplicate key', 'contact', 'mailing list', 'date', 'data', 'created'], transactions, snapshot.transactions.length)}
${table('Workflow runs', ['id', 'workflow', 'urlTokenId', 'auth', 'payload', 'received'], runs, snapshot.workflowRuns.length)}
${table('Requests', ['time', 'method', 'path', 'route', 'status', 'ms', 'fault'], requests, snapshot.requests.length)}
</body>
</html>
`
}
