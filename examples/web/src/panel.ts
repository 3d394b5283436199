// The live panel (each event: what the plugin sent, what the proxy answered, where delivery stands, what
// arrived in Qualtrics) and the "In Qualtrics" tables from the sandbox's inspection API.
import { ACTIONS, type ActionKey } from '@qualtrics-relay/core'
import { h, mount, pretty, timeOf, type Child } from './dom'
import type { EventLog, EventView, ItemView, Link } from './event-log'
import type { SandboxView } from './watchers'

type Arrival = { state: 'yes' | 'no' | 'n/a' | 'unknown'; text: string; count?: number }

const LINKED: Record<Link['kind'], ActionKey | undefined> = {
  contact: 'addContactToXmd',
  transaction: 'upsertContactTransaction',
  workflow: 'triggerXflowWorkflow',
  none: undefined,
}

/** What of this item is in the sandbox. */
export function arrivalOf(link: Link, item: ItemView, view: SandboxView): Arrival {
  if (LINKED[link.kind] !== item.action) return { state: 'n/a', text: '—' }
  if (view.state === 'off') return { state: 'unknown', text: 'see Qualtrics' }
  if (view.state !== 'ok') return { state: 'unknown', text: '…' }
  const s = view.snapshot
  if (link.kind === 'contact') {
    const email = link.email?.toLowerCase()
    const contact = s.contacts.find(
      (c) => c.extRef === link.userId || (email !== undefined && c.email?.toLowerCase() === email),
    )
    return contact ? { state: 'yes', text: `contact ${contact.id}` } : { state: 'no', text: 'not yet' }
  }
  if (link.kind === 'transaction') {
    const found = s.transactions.filter((t) => t.data.orderId === link.orderId)
    if (found.length === 0) return { state: 'no', text: 'not yet', count: 0 }
    const text = found.length === 1 ? `transaction ${found[0]!.id}` : `${found.length} transactions!`
    return { state: 'yes', text, count: found.length }
  }
  if (link.kind === 'workflow') {
    const runs = s.workflowRuns.filter(
      (r) =>
        (r.payload as { properties?: { requestId?: unknown } } | null)?.properties?.requestId ===
        link.requestId,
    )
    if (runs.length === 0) return { state: 'no', text: 'not yet', count: 0 }
    return {
      state: 'yes',
      text: runs.length === 1 ? `workflow run ${runs[0]!.id}` : `${runs.length} runs!`,
      count: runs.length,
    }
  }
  return { state: 'n/a', text: '—' }
}

const SEND_TEXT: Record<ItemView['send'], string> = {
  queued: 'queued in browser',
  sent: 'sent',
  accepted: 'accepted',
  duplicate: 'duplicate (already stored)',
  rejected: 'rejected',
}

export interface EventsPanel {
  render(): void
  setSandbox(view: SandboxView): void
}

export function createEventsPanel(root: HTMLElement, log: EventLog): EventsPanel {
  let sandbox: SandboxView = { state: 'loading' }
  /** Payloads the visitor opened stay open across renders. */
  const open = new Set<string>()

  const itemRow = (event: EventView, item: ItemView): Child[] => {
    const arrival = arrivalOf(event.link, item, sandbox)
    const state = item.delivery?.state ?? 'unknown'
    const key = `${event.messageId} ${item.mapping}`
    const details = h(
      'details',
      { open: open.has(key) },
      h('summary', null, 'payload sent to the proxy'),
      h('pre', null, pretty(item.payload)),
    )
    details.addEventListener('toggle', () => (details.open ? open.add(key) : open.delete(key)))
    const delivery = item.delivery
      ? `${deliveryText(item)}${item.delivery.attempts > 1 ? ` · ${item.delivery.attempts} attempts` : ''}`
      : item.send === 'rejected'
        ? '—'
        : '…'
    return [
      h(
        'tr',
        {
          class: 'item',
          'data-mapping': item.mapping,
          'data-action': item.action,
          'data-send': item.send,
          'data-state': state,
          'data-arrived': arrival.state,
          'data-count': arrival.count,
        },
        h(
          'td',
          null,
          h('code', null, item.mapping),
          h('div', { class: 'muted small' }, ACTIONS[item.action].title),
        ),
        h(
          'td',
          null,
          h('span', { class: `badge send-${item.send}` }, SEND_TEXT[item.send]),
          item.error ? h('div', { class: 'error small' }, item.error) : null,
        ),
        h(
          'td',
          null,
          h('span', { class: `badge state-${state}` }, delivery),
          item.delivery?.lastError ? h('div', { class: 'error small' }, item.delivery.lastError) : null,
        ),
        h('td', null, h('span', { class: `badge arrived-${arrival.state}` }, arrival.text)),
      ),
      h('tr', { class: 'payload-row' }, h('td', { colspan: 4 }, details)),
    ]
  }

  const eventCard = (event: EventView) =>
    h(
      'li',
      {
        class: 'event',
        'data-message-id': event.messageId,
        'data-event': event.name,
        'data-link': linkKey(event.link),
      },
      h(
        'div',
        { class: 'event-head' },
        h('span', { class: `badge type-${event.type}` }, event.type),
        h('strong', null, event.name),
        h('span', { class: 'summary' }, event.summary),
        h('time', { class: 'muted', datetime: event.at }, timeOf(event.at)),
      ),
      h('div', { class: 'muted small mid' }, 'messageId ', h('code', null, event.messageId)),
      event.items.length
        ? h(
            'table',
            { class: 'items' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h('th', null, 'mapping'),
                h('th', null, 'browser → proxy'),
                h('th', null, 'delivery'),
                h('th', null, 'in Qualtrics'),
              ),
            ),
            h(
              'tbody',
              null,
              event.items.map((item) => itemRow(event, item)),
            ),
          )
        : h(
            'p',
            { class: 'muted small' },
            event.failure ? 'No item was made of this event.' : 'Waiting for the plugin…',
          ),
      event.failure ? h('p', { class: 'error small failure' }, event.failure) : null,
    )

  const render = () => {
    const events = log.list()
    mount(
      root,
      h(
        'div',
        { class: 'card' },
        h(
          'div',
          { class: 'card-head' },
          h('h2', null, 'Live events'),
          h(
            'button',
            { class: 'link', type: 'button', id: 'events-clear', onclick: () => log.clear() },
            'Clear',
          ),
        ),
        h(
          'p',
          { class: 'muted' },
          'For each event: the items the plugin mapped and sent, the proxy’s answer and delivery status, and what arrived in Qualtrics.',
        ),
        events.length
          ? h('ol', { class: 'events-list', id: 'events-list' }, events.map(eventCard))
          : h('p', { class: 'empty' }, 'Nothing yet: sign in, buy something, ask for feedback.'),
      ),
    )
  }

  log.subscribe(render)
  return {
    render,
    setSandbox(view) {
      sandbox = view
      render()
    },
  }
}

/** The id that ties an event to what it made in Qualtrics (user id, order id, feedback request id). */
function linkKey(link: Link): string | undefined {
  if (link.kind === 'contact') return link.userId
  if (link.kind === 'transaction') return link.orderId
  if (link.kind === 'workflow') return link.requestId
  return undefined
}

function deliveryText(item: ItemView): string {
  const d = item.delivery!
  if (d.state === 'delivered') return 'delivered'
  if (d.state === 'dead') return 'failed (dead letter)'
  return 'pending'
}

/** The "In Qualtrics" tables: contacts, transactions and workflow runs as the sandbox holds them. */
export function renderQualtrics(root: HTMLElement, view: SandboxView, sandboxPage: string | undefined): void {
  const head = h(
    'div',
    { class: 'card-head' },
    h('h2', null, view.state === 'off' ? 'In Qualtrics' : 'In Qualtrics (the sandbox)'),
    sandboxPage
      ? h('a', { href: sandboxPage, target: '_blank', rel: 'noopener' }, 'Open the sandbox page')
      : null,
  )
  if (view.state === 'off') {
    mount(
      root,
      head,
      h(
        'p',
        { class: 'muted' },
        'This demo delivers to your Qualtrics account: look for the contacts, transactions and workflow runs in XM Directory and Workflows.',
      ),
    )
    return
  }
  if (view.state !== 'ok') {
    mount(
      root,
      head,
      h(
        'p',
        { class: view.state === 'error' ? 'error' : 'muted' },
        view.state === 'error' ? view.message : 'Loading…',
      ),
    )
    return
  }
  const s = view.snapshot
  const newest = <T>(list: readonly T[]) => [...list].reverse().slice(0, 8)
  const duplicates = Object.values(s.transactionKeyCounts).filter((n) => n > 1).length
  mount(
    root,
    head,
    h(
      'div',
      { class: 'tables' },
      table(
        'contacts',
        `Contacts (${s.contacts.length})`,
        ['name', 'e-mail', 'extRef', 'id'],
        newest(s.contacts).map((c) => [
          [c.firstName, c.lastName].filter(Boolean).join(' ') || '—',
          c.email ?? '—',
          c.extRef ?? '—',
          c.id,
        ]),
      ),
      table(
        'transactions',
        `Transactions (${s.transactions.length})${duplicates ? ` — ${duplicates} duplicate key(s)!` : ''}`,
        ['order', 'total', 'contact', 'key'],
        newest(s.transactions).map((t) => [
          String(t.data.orderId ?? '—'),
          String(t.data.total ?? '—'),
          t.contactId,
          t.key,
        ]),
      ),
      table(
        'workflow-runs',
        `Workflow runs (${s.workflowRuns.length})`,
        ['workflow', 'event', 'topic', 'received'],
        newest(s.workflowRuns).map((r) => {
          const p = (r.payload ?? {}) as { event?: unknown; properties?: { topic?: unknown } }
          return [
            r.workflowName,
            String(p.event ?? '—'),
            String(p.properties?.topic ?? '—'),
            timeOf(r.receivedAt),
          ]
        }),
      ),
    ),
  )
}

function table(id: string, title: string, columns: string[], rows: string[][]): HTMLElement {
  return h(
    'div',
    { class: 'table-box', id: `qualtrics-${id}` },
    h('h3', null, title),
    rows.length
      ? h(
          'table',
          null,
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              columns.map((c) => h('th', null, c)),
            ),
          ),
          h(
            'tbody',
            null,
            rows.map((row) =>
              h(
                'tr',
                null,
                row.map((cell) => h('td', { title: cell }, cell)),
              ),
            ),
          ),
        )
      : h('p', { class: 'muted small' }, 'none yet'),
  )
}
