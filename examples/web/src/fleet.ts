// The fleet panel of `pnpm start:cluster`: each proxy instance's state and request rate to Qualtrics, the
// one bucket they all draw from, and buttons that kill an instance (SIGKILL) and start it again. It reads
// the launcher's API under /__cluster, which the Vite server forwards (scripts/cluster/panel-api.ts).
import type { BurstResult } from '../scripts/cluster/burst'
import type { ClusterState } from '../scripts/cluster/panel-api'
import type { InstanceView } from '../scripts/cluster/fleet'
import { h, mount } from './dom'
import { every } from './watchers'

const API = '/__cluster'

const perSecond = (n: number) => `${n.toFixed(1)}/s`

function stateBadge(state: InstanceView['state']) {
  const tone = state === 'up' ? 'state-delivered' : state === 'starting' ? 'state-pending' : 'state-dead'
  return h('span', { class: `badge ${tone}` }, state)
}

/** A bar as wide as `value` is of `max`. */
function meter(value: number, max: number, label: string) {
  const share = max > 0 ? Math.max(0, Math.min(1, value / max)) : 0
  return h(
    'span',
    {
      class: 'meter',
      role: 'meter',
      'aria-label': label,
      'aria-valuenow': value.toFixed(1),
      'aria-valuemax': max,
    },
    h('span', { class: 'meter-fill', style: `width: ${(share * 100).toFixed(1)}%` }),
  )
}

function bucketLine(state: ClusterState) {
  const b = state.bucket
  if ('error' in b) return h('p', { class: 'muted' }, `Shared Qualtrics bucket: ${b.error}`)
  const notes: string[] = []
  if (b.pausedForMs > 0) notes.push(`paused for ${(b.pausedForMs / 1000).toFixed(1)} s after a 429`)
  if (b.rateFactor < 1) notes.push(`rate at ${Math.round(b.rateFactor * 100)} % after a 429, climbing back`)
  notes.push(`from ${b.reportedBy}'s /metrics`)
  return h(
    'div',
    { class: 'bucket', 'data-level': b.level.toFixed(2) },
    h('strong', null, 'Shared Qualtrics bucket '),
    meter(b.level, b.burst, 'tokens in the shared bucket'),
    ` ${b.level.toFixed(1)} of ${b.burst} tokens · ${b.requestsPerMinute} requests/min for the whole fleet`,
    notes.length > 0 ? h('span', { class: 'muted' }, ` · ${notes.join(' · ')}`) : null,
  )
}

export function watchFleet(root: HTMLElement): () => void {
  let last: ClusterState | undefined
  /** The last poll's failure, and the last button's: shown until the next success of each. */
  let unreachable = ''
  let refused = ''
  /** Instances (and `burst`) whose button was pressed and not answered yet. */
  const pending = new Set<string>()
  let burstSaid = ''

  async function burst(): Promise<void> {
    pending.add('burst')
    burstSaid = 'sending 100 purchases…'
    render()
    try {
      const response = await fetch(`${API}/burst`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{}',
      })
      const body = (await response.json()) as BurstResult & { error?: { message: string } }
      burstSaid = response.ok
        ? `${body.accepted} accepted, ${body.duplicate} duplicate, ${body.failed} not accepted`
        : (body.error?.message ?? `HTTP ${response.status}`)
    } catch (error) {
      burstSaid = `The launcher did not answer: ${error instanceof Error ? error.message : String(error)}`
    } finally {
      pending.delete('burst')
    }
    render()
  }

  async function act(id: string, action: 'kill' | 'restart'): Promise<void> {
    pending.add(id)
    render()
    try {
      const response = await fetch(`${API}/instances/${encodeURIComponent(id)}/${action}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{}',
      })
      const body = (await response.json().catch(() => ({}))) as { error?: { message?: string } }
      refused = response.ok ? '' : (body.error?.message ?? `HTTP ${response.status}`)
    } catch (error) {
      refused = `The launcher did not answer: ${error instanceof Error ? error.message : String(error)}`
    } finally {
      pending.delete(id)
    }
    await refresh()
  }

  function row(i: InstanceView, fleetRate: number) {
    const down = i.state === 'killed' || i.state === 'exited'
    const button = down
      ? h(
          'button',
          {
            class: 'secondary',
            'data-action': 'restart',
            disabled: pending.has(i.id),
            onclick: () => void act(i.id, 'restart'),
          },
          'Start again',
        )
      : h(
          'button',
          {
            class: 'danger',
            'data-action': 'kill',
            disabled: pending.has(i.id) || i.state !== 'up',
            onclick: () => void act(i.id, 'kill'),
          },
          'Kill (SIGKILL)',
        )
    return h(
      'tr',
      { 'data-instance': i.id, 'data-state': i.state },
      h(
        'td',
        null,
        h('strong', null, i.id),
        h('div', { class: 'muted small' }, i.url.replace('http://', '')),
      ),
      h('td', null, stateBadge(i.state), i.exit ? h('div', { class: 'error small' }, i.exit) : null),
      h(
        'td',
        null,
        meter(i.qualtricsPerSecond, fleetRate, `${i.id} requests to Qualtrics per second`),
        ` ${perSecond(i.qualtricsPerSecond)}`,
      ),
      h('td', null, String(i.qualtricsRequests)),
      h('td', null, perSecond(i.requestsInPerSecond)),
      h('td', null, String(i.itemsDelivered)),
      h('td', null, button),
    )
  }

  function render(): void {
    const head = h(
      'div',
      { class: 'card-head' },
      h('h2', null, 'The fleet: proxies on one PostgreSQL behind a round-robin balancer'),
      last ? h('span', { class: 'muted small' }, 'balancer ', h('code', null, last.balancer.url)) : null,
    )
    if (last === undefined) {
      mount(root, head, h('p', { class: unreachable ? 'error' : 'muted' }, unreachable || 'Loading…'))
      return
    }
    const state = last
    // No instance sends faster than the whole fleet may: that rate is a full bar.
    const fleetRate = 'error' in state.bucket ? 10 : state.bucket.requestsPerMinute / 60
    const down = state.instances.filter((i) => i.state !== 'up').length
    mount(
      root,
      head,
      h(
        'table',
        { class: 'fleet' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ...[
              'instance',
              'state',
              'to Qualtrics',
              'Qualtrics requests',
              'from the balancer',
              'delivered',
              '',
            ].map((t) => h('th', null, t)),
          ),
        ),
        h('tbody', null, ...state.instances.map((i) => row(i, fleetRate))),
      ),
      bucketLine(state),
      h(
        'p',
        { class: 'burst' },
        h(
          'button',
          {
            class: 'secondary',
            id: 'fleet-burst',
            disabled: pending.has('burst'),
            onclick: () => void burst(),
          },
          'Send 100 purchases',
        ),
        h(
          'span',
          { class: 'muted small' },
          ` ${burstSaid || 'new shoppers buying at once, through the balancer: watch the rates and the bucket'}`,
        ),
      ),
      ...[unreachable, refused].map((problem) => (problem ? h('p', { class: 'error' }, problem) : null)),
      h(
        'p',
        { class: 'muted small' },
        down > 0
          ? `${down} instance(s) down: the balancer passes new requests to the others, and items the killed one had leased go to them after ${state.leaseMs / 1000} s. Buy something: it still arrives.`
          : `Kill an instance while you shop: events keep arriving in the sandbox. Rates are over the last 5 s, from each instance's /metrics.`,
      ),
    )
  }

  async function refresh(): Promise<void> {
    try {
      const response = await fetch(`${API}/state`, { cache: 'no-store' })
      if (!response.ok) throw new TypeError(`${API}/state answered HTTP ${response.status}`)
      last = (await response.json()) as ClusterState
      unreachable = ''
    } catch (error) {
      unreachable = `The launcher's panel API: ${error instanceof Error ? error.message : String(error)}`
    }
    render()
  }

  return every(1000, refresh)
}
