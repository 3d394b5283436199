// The demo page: the shop, the live panel, the "In Qualtrics" tables and the mapping playground.
import './style.css'
import { loadAnalytics } from './analytics'
import { readSiteConfig } from './config'
import { byId, h, mount } from './dom'
import { createEventLog } from './event-log'
import { createEventsPanel, renderQualtrics } from './panel'
import { watchFleet } from './fleet'
import { renderPlayground } from './playground'
import { renderShop } from './shop'
import { watchDeliveries, watchQueue, watchSandbox, type SandboxView } from './watchers'

const config = readSiteConfig(import.meta.env, location.search)

function sessionStore(): Storage | null {
  try {
    return sessionStorage
  } catch {
    return null
  }
}

async function start(): Promise<void> {
  const log = createEventLog(sessionStore())

  mount(
    byId('mode'),
    h(
      'span',
      { class: `badge ${config.sandbox ? 'mode-sandbox' : 'mode-live'}` },
      config.sandbox ? 'sandbox' : 'real Qualtrics',
    ),
    ' proxy ',
    h('code', null, config.proxyUrl),
    ' · write key ',
    h('code', null, config.writeKey),
    ' · batches every ',
    h('code', { id: 'flush-ms' }, `${config.flushIntervalMs} ms`),
  )

  if (config.cluster) {
    const fleet = byId('fleet')
    fleet.hidden = false
    watchFleet(fleet)
  }

  const panel = createEventsPanel(byId('events'), log)
  panel.render()

  let shown = ''
  const showSandbox = (view: SandboxView) => {
    // Redraw only on a change (the request log and in-flight count change on every poll).
    const key =
      view.state === 'ok'
        ? JSON.stringify({ ...view.snapshot, requests: 0, inFlight: 0 })
        : JSON.stringify(view)
    if (key === shown) return
    shown = key
    renderQualtrics(byId('qualtrics'), view, config.sandboxPage)
    panel.setSandbox(view)
  }
  watchSandbox(config, showSandbox)

  renderPlayground(byId('playground'), config, log)

  const shop = byId('shop')
  mount(shop, h('div', { class: 'card' }, h('p', { class: 'muted' }, 'Loading analytics…')))
  try {
    const analytics = await loadAnalytics(config, log)
    renderShop(shop, analytics, config)
    document.body.dataset.ready = 'true'
  } catch (error) {
    mount(
      shop,
      h(
        'div',
        { class: 'card' },
        h(
          'p',
          { class: 'error' },
          `Analytics did not load: ${error instanceof Error ? error.message : String(error)}`,
        ),
      ),
    )
    return
  }
  watchQueue(config, log)
  watchDeliveries(config, log)
}

void start()
