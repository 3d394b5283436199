// The shop: sign in (identify), buy (track "Transaction Created"), ask for feedback (track
// "Feedback Requested", which the demo mapping turns into a Qualtrics workflow run).
import type { Analytics } from '@segment/analytics-next'
import type { SiteConfig } from './config'
import { h, mount } from './dom'

export interface Product {
  sku: string
  name: string
  blurb: string
  price: number
  /** The swatch's colours. */
  tint: [string, string]
}

export const PRODUCTS: readonly Product[] = [
  {
    sku: 'lamp',
    name: 'Walnut desk lamp',
    blurb: 'Warm light, oiled walnut',
    price: 89,
    tint: ['#b7794a', '#6d4326'],
  },
  {
    sku: 'notebook',
    name: 'Linen notebook',
    blurb: '160 dotted pages',
    price: 18,
    tint: ['#9fb3a6', '#56705f'],
  },
  {
    sku: 'mug',
    name: 'Stoneware mug',
    blurb: 'Glazed by hand, 350 ml',
    price: 24,
    tint: ['#c9b8e6', '#7a65a8'],
  },
]

const TOPICS = ['my order', 'delivery', 'the website'] as const

const randomId = (prefix: string) => `${prefix}_${Math.random().toString(36).slice(2, 10)}`

/** A stable user id for an e-mail address (it becomes the contact's extRef). */
export function userIdFor(email: string): string {
  return `user_${email
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')}`
}

export function renderShop(root: HTMLElement, analytics: Analytics, config: SiteConfig): void {
  let lastOrderId: string | undefined
  let notice = ''

  const draw = () => {
    const user = analytics.user()
    const traits = user.traits() as { name?: string; email?: string }
    const signedIn = Boolean(user.id())
    mount(
      root,
      signInCard(signedIn, traits),
      productsCard(),
      feedbackCard(),
      h('p', { class: 'notice', id: 'shop-notice', role: 'status' }, notice),
      footnote(),
    )
  }

  const signInCard = (signedIn: boolean, traits: { name?: string; email?: string }) => {
    if (signedIn) {
      return h(
        'div',
        { class: 'card' },
        h('h2', null, 'Your account'),
        h(
          'p',
          { id: 'signed-in', class: 'signed-in' },
          'Signed in as ',
          h('strong', null, traits.name ?? ''),
          ` <${traits.email ?? ''}>`,
        ),
        h('button', { id: 'signout', class: 'secondary', type: 'button', onclick: signOut }, 'Sign out'),
      )
    }
    const form = h(
      'form',
      { class: 'card signin', onsubmit: (event: Event) => void signIn(event) },
      h('h2', null, 'Sign in'),
      h(
        'label',
        null,
        'Name',
        h('input', {
          id: 'signin-name',
          name: 'name',
          required: true,
          autocomplete: 'name',
          placeholder: 'Ada Lovelace',
        }),
      ),
      h(
        'label',
        null,
        'E-mail',
        h('input', {
          id: 'signin-email',
          name: 'email',
          type: 'email',
          required: true,
          autocomplete: 'email',
          placeholder: 'ada@example.com',
        }),
      ),
      h('button', { id: 'signin-submit', class: 'primary', type: 'submit' }, 'Sign in'),
    )
    return form
  }

  const productsCard = () =>
    h(
      'div',
      { class: 'card' },
      h('h2', null, 'Shop'),
      h(
        'ul',
        { class: 'products' },
        PRODUCTS.map((p) =>
          h(
            'li',
            { class: 'product' },
            h('div', {
              class: 'swatch',
              style: `background: linear-gradient(135deg, ${p.tint[0]}, ${p.tint[1]})`,
            }),
            h('div', { class: 'product-name' }, p.name),
            h('div', { class: 'product-blurb' }, p.blurb),
            h(
              'div',
              { class: 'product-buy' },
              h('span', { class: 'price' }, `$${p.price}`),
              h(
                'button',
                { class: 'primary', type: 'button', 'data-sku': p.sku, onclick: () => void buy(p) },
                'Buy',
              ),
            ),
          ),
        ),
      ),
    )

  const feedbackCard = () => {
    const select = h(
      'select',
      { id: 'feedback-topic' },
      TOPICS.map((t) => h('option', { value: t }, t)),
    )
    return h(
      'div',
      { class: 'card feedback' },
      h('h2', null, 'Tell us how we did'),
      h('p', { class: 'muted' }, 'We will send you a short survey (a Qualtrics workflow starts).'),
      h(
        'div',
        { class: 'inline' },
        h('label', null, 'About ', select),
        h(
          'button',
          {
            id: 'feedback-submit',
            class: 'primary',
            type: 'button',
            onclick: () => void askFeedback(select.value),
          },
          'Ask me for feedback',
        ),
      ),
    )
  }

  const footnote = () =>
    h(
      'p',
      { class: 'footnote muted' },
      `The plugin batches events for ${config.flushIntervalMs} ms. `,
      config.flushIntervalMs < 10_000
        ? h('a', { href: '?flushMs=60000', id: 'slow-mode' }, 'Hold them for a minute')
        : h('a', { href: '?', id: 'fast-mode' }, 'Back to 1 s batches'),
      config.flushIntervalMs < 10_000 ? ', buy, then reload: nothing is lost or sent twice.' : '.',
    )

  const signIn = async (event: Event) => {
    event.preventDefault()
    const form = event.currentTarget as HTMLFormElement
    const data = new FormData(form)
    const name = String(data.get('name') ?? '').trim()
    const email = String(data.get('email') ?? '').trim()
    if (!name || !email) return
    const [firstName, ...rest] = name.split(/\s+/)
    await analytics.identify(userIdFor(email), {
      name,
      email,
      firstName,
      ...(rest.length ? { lastName: rest.join(' ') } : {}),
    })
    notice = `Welcome, ${firstName}!`
    draw()
  }

  const signOut = () => {
    analytics.reset()
    lastOrderId = undefined
    notice = 'Signed out.'
    draw()
  }

  const buy = async (product: Product) => {
    lastOrderId = randomId('ord')
    notice = `Thank you! Order ${lastOrderId}: ${product.name}.`
    draw()
    await analytics.track('Transaction Created', {
      orderId: lastOrderId,
      total: product.price,
      currency: 'USD',
      products: [{ sku: product.sku, name: product.name, price: product.price, quantity: 1 }],
    })
  }

  const askFeedback = async (topic: string) => {
    notice = `Thanks, a survey about ${topic} is on its way.`
    draw()
    await analytics.track('Feedback Requested', {
      requestId: randomId('fbk'),
      topic,
      ...(lastOrderId ? { orderId: lastOrderId } : {}),
    })
  }

  draw()
}
