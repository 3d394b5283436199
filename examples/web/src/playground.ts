// The mapping playground ("test mapping"): edit a mapping and an example event, see the payload the
// plugin would send, or every problem, as you type.
import type { MappingSpec, PublicSettings } from '@qualtrics-relay/core'
import type { SiteConfig } from './config'
import { h, mount, pretty } from './dom'
import type { EventLog } from './event-log'
import { testMapping, type TestResult } from './test-mapping'

interface Preset {
  id: string
  label: string
  mapping: unknown
  event: unknown
}

const USER = { userId: 'user_ada-example-com', anonymousId: 'c0ffee00-1234-4cde-8f00-000000000001' }
const CONTEXT = {
  library: { name: 'analytics.js', version: 'next-1.84.3' },
  page: { path: '/', url: 'http://localhost:5173/' },
}

const EXAMPLE_EVENTS = {
  addContactToXmd: {
    type: 'identify',
    messageId: 'ajs-next-example-identify',
    timestamp: '2025-05-04T10:00:00.000Z',
    ...USER,
    traits: {
      name: 'Ada Lovelace',
      firstName: 'Ada',
      lastName: 'Lovelace',
      email: 'ada@example.com',
      plan: 'pro',
    },
    context: CONTEXT,
  },
  upsertContactTransaction: {
    type: 'track',
    event: 'Transaction Created',
    messageId: 'ajs-next-example-order',
    timestamp: '2025-05-04T10:01:00.000Z',
    ...USER,
    properties: {
      orderId: 'ord_example1',
      total: 89,
      currency: 'USD',
      products: [{ sku: 'lamp', name: 'Walnut desk lamp', price: 89, quantity: 1 }],
    },
    context: CONTEXT,
  },
  triggerXflowWorkflow: {
    type: 'track',
    event: 'Feedback Requested',
    messageId: 'ajs-next-example-feedback',
    timestamp: '2025-05-04T10:02:00.000Z',
    ...USER,
    properties: { requestId: 'fbk_example1', topic: 'delivery', orderId: 'ord_example1' },
    context: CONTEXT,
  },
} as const

const BUILT_IN: Preset[] = [
  {
    id: 'example-transaction',
    label: 'Example: purchases → transactions',
    mapping: {
      id: 'purchases',
      action: 'upsertContactTransaction',
      trigger: 'type = "track" and event = "Transaction Created"',
      fields: {
        directoryId: 'POOL_012345678901234',
        mailingListId: 'CG_012345678901234',
        transactionData: {
          orderId: { '@path': '$.properties.orderId' },
          total: { '@path': '$.properties.total' },
          products: { '@path': '$.properties.products' },
        },
      },
    },
    event: EXAMPLE_EVENTS.upsertContactTransaction,
  },
  {
    id: 'example-contact',
    label: 'Example: identify → contact',
    mapping: {
      id: 'contacts',
      action: 'addContactToXmd',
      fields: {
        directoryId: 'POOL_012345678901234',
        embeddedData: { plan: { '@path': '$.traits.plan' } },
      },
    },
    event: EXAMPLE_EVENTS.addContactToXmd,
  },
  {
    id: 'example-workflow',
    label: 'Example: feedback → workflow',
    mapping: {
      id: 'feedback',
      action: 'triggerXflowWorkflow',
      trigger: 'type = "track" and event = "Feedback Requested"',
      fields: {
        workflowUrl:
          'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=2f0c7f8e-3b1a-4c55-9d7e-5a1b2c3d4e5f',
        eventPayload: {
          topic: { '@path': '$.properties.topic' },
          email: { '@path': '$.context.traits.email' },
          userId: { '@path': '$.userId' },
        },
      },
    },
    event: EXAMPLE_EVENTS.triggerXflowWorkflow,
  },
]

/** A mapping as the proxy serves it, written back as a user would write it. */
function presetOf(spec: MappingSpec): Preset {
  return {
    id: `site-${spec.id}`,
    label: `This site: ${spec.name} (${spec.id})`,
    mapping: {
      id: spec.id,
      name: spec.name,
      action: spec.action,
      trigger: spec.triggerText,
      fields: spec.fields,
    },
    event: EXAMPLE_EVENTS[spec.action],
  }
}

export function renderPlayground(root: HTMLElement, config: SiteConfig, log: EventLog): void {
  let presets = [...BUILT_IN]
  let workflowOrigins: string[] = []
  let timer: ReturnType<typeof setTimeout> | undefined

  const mappingInput = h('textarea', {
    id: 'playground-mapping',
    spellcheck: false,
    rows: 18,
    'aria-label': 'Mapping (JSON)',
  })
  const eventInput = h('textarea', {
    id: 'playground-event',
    spellcheck: false,
    rows: 18,
    'aria-label': 'Example event (JSON)',
  })
  const select = h('select', { id: 'playground-preset', 'aria-label': 'Start from' })
  const output = h('div', { id: 'playground-result', class: 'result', 'aria-live': 'polite' })

  const fillSelect = () =>
    mount(
      select,
      presets.map((p) => h('option', { value: p.id }, p.label)),
    )
  const choose = (id: string) => {
    const preset = presets.find((p) => p.id === id)
    if (!preset) return
    mappingInput.value = pretty(preset.mapping)
    eventInput.value = pretty(preset.event)
    update()
  }
  const update = () => {
    clearTimeout(timer)
    renderResult(output, testMapping(mappingInput.value, eventInput.value, { workflowOrigins }))
  }
  const soon = () => {
    clearTimeout(timer)
    timer = setTimeout(update, 120)
  }
  const useLatest = () => {
    const latest = log.list()[0]
    if (latest) {
      eventInput.value = pretty(latest.event)
      update()
    }
  }

  select.addEventListener('change', () => choose(select.value))
  mappingInput.addEventListener('input', soon)
  eventInput.addEventListener('input', soon)

  mount(
    root,
    h(
      'div',
      { class: 'card-head' },
      h('h2', null, 'Mapping playground'),
      h('span', { class: 'muted' }, 'Segment’s “test mapping”: edit, and see what would be sent.'),
    ),
    h(
      'div',
      { class: 'playground' },
      h(
        'div',
        { class: 'pane' },
        h('div', { class: 'pane-head' }, h('h3', null, 'Mapping'), select),
        mappingInput,
        h(
          'p',
          { class: 'muted small' },
          'id, action, trigger (Segment’s subscription syntax) and fields (',
          h('code', null, '@path'),
          ', ',
          h('code', null, '@if'),
          ', ',
          h('code', null, '@template'),
          '…). Fields are merged over the action’s defaults; null removes one.',
        ),
      ),
      h(
        'div',
        { class: 'pane' },
        h(
          'div',
          { class: 'pane-head' },
          h('h3', null, 'Example event'),
          h(
            'button',
            { class: 'link', type: 'button', id: 'playground-latest', onclick: useLatest },
            'Use the latest shop event',
          ),
        ),
        eventInput,
      ),
      h('div', { class: 'pane' }, h('div', { class: 'pane-head' }, h('h3', null, 'Result')), output),
    ),
  )
  fillSelect()
  choose(BUILT_IN[0]!.id)

  // Offer this site's own mappings too, exactly as the proxy serves them to the plugin.
  const url = `${config.proxyUrl.replace(/\/+$/, '')}/v1/settings?writeKey=${encodeURIComponent(config.writeKey)}`
  fetch(url)
    .then((response) => (response.ok ? (response.json() as Promise<PublicSettings>) : undefined))
    .then((settings) => {
      if (!settings) return
      workflowOrigins = settings.workflowOrigins ?? []
      presets = [...BUILT_IN, ...settings.mappings.map(presetOf)]
      const current = select.value
      fillSelect()
      select.value = current
      update()
    })
    .catch(() => {})
}

function renderResult(output: HTMLElement, result: TestResult): void {
  switch (result.kind) {
    case 'json-error':
      mount(
        output,
        h('p', { class: 'verdict bad' }, `The ${result.input} is not valid JSON`),
        h('pre', { class: 'error' }, result.message),
      )
      return
    case 'mapping-error':
      mount(
        output,
        h('p', { class: 'verdict bad', 'data-verdict': 'mapping-error' }, 'The mapping is not valid'),
        issueList(result.issues),
      )
      return
    case 'no-match':
      mount(
        output,
        h(
          'p',
          { class: 'verdict neutral', 'data-verdict': 'no-match' },
          'The trigger does not match this event: nothing would be sent.',
        ),
        h('pre', null, result.trigger),
      )
      return
    case 'mapped':
      mount(
        output,
        result.payload
          ? h(
              'p',
              { class: 'verdict good', 'data-verdict': 'ok' },
              `Matches: the plugin would send this ${result.action} payload.`,
            )
          : h(
              'p',
              { class: 'verdict bad', 'data-verdict': 'invalid' },
              'Matches, but the payload would be refused:',
            ),
        result.payload ? null : issueList(result.issues),
        h('pre', { id: 'playground-payload' }, pretty(result.payload ?? result.mapped)),
      )
  }
}

function issueList(issues: readonly { path: string; message: string }[]): HTMLElement {
  return h(
    'ul',
    { class: 'issues', id: 'playground-issues' },
    issues.map((i) => h('li', null, h('code', null, i.path), ' ', i.message)),
  )
}
