// `pnpm test:e2e`: the demo in real Chromium (Debian's package, driven by playwright-core). Starts the
// proxy (with its in-process sandbox) and the site on free ports, plays a visitor, and checks what the
// page shows and what the sandbox received. Prints "N passed, M failed" last; exits 1 on any failure.
//
//   tsx scripts/e2e.ts [--update-screenshot] [--headed]
//
// CHROMIUM=/path/to/chromium overrides /usr/bin/chromium.
import { createWriteStream, mkdirSync, copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { SandboxSnapshot } from '@qualtrics-relay/sandbox'
import { freeLoopbackPort } from '../../../test-support/free-port'
import { startDemo, type RunningDemo } from './demo-servers'
import { SITE_ROOT } from './vite-options'

const REPO_ROOT = join(SITE_ROOT, '..', '..')
const ARTIFACTS = join(REPO_ROOT, '.artifacts')
const SCREENSHOT = join(ARTIFACTS, 'demo.png')
const COMMITTED_SCREENSHOT = join(SITE_ROOT, 'docs', 'demo.png')
const OVERALL_TIMEOUT_MS = 150_000
const STEP_TIMEOUT_MS = 25_000

const args = new Set(process.argv.slice(2))

interface Result {
  name: string
  ok: boolean
  detail?: string
}
const results: Result[] = []
/** The page's console errors and warnings, shown when a check fails. */
const consoleLines: string[] = []

const T0 = Date.now()
const elapsed = () => `${((Date.now() - T0) / 1000).toFixed(1)} s`

function log(line: string): void {
  process.stdout.write(`${line}\n`)
}

async function check(name: string, run: () => Promise<void>): Promise<void> {
  const started = Date.now()
  try {
    await run()
    results.push({ name, ok: true })
    log(`  ✓ ${name} (${Date.now() - started} ms)`)
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error)
    results.push({ name, ok: false, detail })
    log(`  ✗ ${name}\n      ${detail.split('\n').join('\n      ')}`)
    for (const line of consoleLines.splice(0)) log(`      console ${line.slice(0, 300)}`)
  }
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailure(message)
}

class AssertionFailure extends Error {
  override readonly name = 'AssertionFailure'
}

async function snapshot(demo: RunningDemo): Promise<SandboxSnapshot> {
  const response = await fetch(`${demo.sandboxUrl}/__sandbox/state`)
  assert(response.ok, `the sandbox's state answered HTTP ${response.status}`)
  return (await response.json()) as SandboxSnapshot
}

/** Polls until `probe` returns a value (not undefined), or fails with the last reason. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + STEP_TIMEOUT_MS
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new AssertionFailure(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** Waits until the page shows the item of `mapping` for the event with `link` in the given states. */
async function waitForItem(
  page: Page,
  link: string,
  mapping: string,
  want: { send?: string[]; state?: string; arrived?: string },
): Promise<Record<string, string>> {
  const row = page.locator(`.event[data-link="${link}"] .item[data-mapping="${mapping}"]`)
  let last: Record<string, string> = {}
  try {
    return await eventually(`${mapping} of ${link} to show ${JSON.stringify(want)}`, async () => {
      if ((await row.count()) === 0) return undefined
      last = await row
        .first()
        .evaluate((el) => ({ ...(el as HTMLElement).dataset }) as Record<string, string>)
      const ok =
        (want.send === undefined || want.send.includes(last.send ?? '')) &&
        (want.state === undefined || last.state === want.state) &&
        (want.arrived === undefined || last.arrived === want.arrived)
      return ok ? last : undefined
    })
  } catch (error) {
    throw new AssertionFailure(
      `${error instanceof Error ? error.message : String(error)}; the page shows ${JSON.stringify(last)}`,
    )
  }
}

async function main(): Promise<number> {
  mkdirSync(ARTIFACTS, { recursive: true })
  const proxyLog = createWriteStream(join(ARTIFACTS, 'e2e-proxy.log'))
  const [sitePort, proxyPort, sandboxPort] = [
    await freeLoopbackPort(),
    await freeLoopbackPort(),
    await freeLoopbackPort(),
  ]
  let demo: RunningDemo | undefined
  let browser: Browser | undefined
  const watchdog = setTimeout(() => {
    log(`e2e: gave up after ${OVERALL_TIMEOUT_MS / 1000} s`)
    const cleanup = Promise.allSettled([browser?.close(), demo?.close()])
    void Promise.race([cleanup, new Promise((resolve) => setTimeout(resolve, 5_000))]).then(() => {
      log(`${results.filter((r) => r.ok).length} passed, ${results.filter((r) => !r.ok).length + 1} failed`)
      process.exit(1)
    })
  }, OVERALL_TIMEOUT_MS)
  watchdog.unref()

  try {
    log('e2e: starting the proxy, the sandbox and the site')
    demo = await startDemo({
      sitePort,
      proxyPort,
      sandboxPort,
      // Never the caller's environment: no token, always the sandbox.
      env: { RELAY_LOG_LEVEL: 'info' },
      proxyLog,
      viteLogLevel: process.env.E2E_VITE_LOG === 'info' ? 'info' : 'warn',
      overrideSiteEnv: true,
      // No reloads because a source file changed while the test runs.
      watch: false,
    })
    const running = demo
    const info = (await (await fetch(`${running.sandboxUrl}/__sandbox/info`)).json()) as {
      token: string
      mailingListId: string
    }
    log(
      `e2e: [${elapsed()}] site ${running.siteUrl}, proxy ${running.proxyUrl}, sandbox ${running.sandboxUrl}`,
    )

    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: !args.has('--headed'),
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ].filter((a) => a !== '--headless' || !args.has('--headed')),
    })
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } })
    const page = await context.newPage()
    const foreign: string[] = []
    const pageErrors: string[] = []
    const bodies: string[] = []
    page.on('request', (request) => {
      const { hostname, protocol } = new URL(request.url())
      if (!['127.0.0.1', 'localhost'].includes(hostname) && protocol !== 'data:') foreign.push(request.url())
    })
    page.on('response', (response) => {
      const type = response.headers()['content-type'] ?? ''
      if (/javascript|json|html|text/.test(type)) {
        response.text().then(
          (text) => bodies.push(text),
          () => {},
        )
      }
    })
    page.on('pageerror', (error) => pageErrors.push(error.message))
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') {
        consoleLines.push(`${message.type()}: ${message.text()}`)
      }
    })

    await page.goto(running.siteUrl)
    await page.locator('body[data-ready="true"]').waitFor({ timeout: STEP_TIMEOUT_MS })

    const email = 'ada.lovelace@example.com'
    const userId = 'user_ada-lovelace-example-com'

    await check('sign in: the contact is delivered, shown on the page, and in the sandbox', async () => {
      await page.fill('#signin-name', 'Ada Lovelace')
      await page.fill('#signin-email', email)
      await page.click('#signin-submit')
      await page.locator('#signed-in').waitFor({ timeout: STEP_TIMEOUT_MS })
      await waitForItem(page, userId, 'demo-contact', {
        send: ['accepted'],
        state: 'delivered',
        arrived: 'yes',
      })
      const s = await snapshot(running)
      const contacts = s.contacts.filter((c) => c.extRef === userId)
      assert(contacts.length === 1, `expected 1 contact with extRef ${userId}, found ${contacts.length}`)
      const c = contacts[0]!
      assert(c.email === email, `contact e-mail: ${c.email}`)
      assert(c.firstName === 'Ada' && c.lastName === 'Lovelace', `contact name: ${c.firstName} ${c.lastName}`)
    })

    let firstOrder = ''
    await check('buy: one transaction on the contact, shown as delivered', async () => {
      await page.click('button[data-sku="lamp"]')
      firstOrder = await eventually('the order id', async () => {
        const link = await page
          .locator('.event[data-event="Transaction Created"]')
          .first()
          .getAttribute('data-link')
          .catch(() => null)
        return link ?? undefined
      })
      await waitForItem(page, firstOrder, 'demo-transaction', {
        send: ['accepted'],
        state: 'delivered',
        arrived: 'yes',
      })
      const s = await snapshot(running)
      const contact = s.contacts.find((c) => c.extRef === userId)
      const found = s.transactions.filter((t) => t.data.orderId === firstOrder)
      assert(found.length === 1, `expected 1 transaction for ${firstOrder}, found ${found.length}`)
      const t = found[0]!
      assert(t.contactId === contact?.id, `transaction contact ${t.contactId}, expected ${contact?.id}`)
      assert(String(t.data.total) === '89', `transaction total ${String(t.data.total)}`)
      assert(
        s.transactionKeyCounts[t.key] === 1,
        `key ${t.key} written ${s.transactionKeyCounts[t.key]} times`,
      )
      assert(t.mailingListId === info.mailingListId, `transaction mailing list ${t.mailingListId}`)
    })

    await check('ask for feedback: one workflow run with the event, shown as delivered', async () => {
      await page.selectOption('#feedback-topic', 'delivery')
      await page.click('#feedback-submit')
      const requestId = await eventually('the feedback request id', async () => {
        const link = await page
          .locator('.event[data-event="Feedback Requested"]')
          .first()
          .getAttribute('data-link')
          .catch(() => null)
        return link ?? undefined
      })
      await waitForItem(page, requestId, 'demo-feedback', {
        send: ['accepted'],
        state: 'delivered',
        arrived: 'yes',
      })
      const s = await snapshot(running)
      const runs = s.workflowRuns.filter(
        (r) => (r.payload as { properties?: { requestId?: string } }).properties?.requestId === requestId,
      )
      assert(runs.length === 1, `expected 1 workflow run for ${requestId}, found ${runs.length}`)
      const payload = runs[0]!.payload as { event?: string; userId?: string; properties?: { topic?: string } }
      assert(payload.event === 'Feedback Requested', `run event: ${payload.event}`)
      assert(payload.userId === userId, `run userId: ${payload.userId}`)
      assert(payload.properties?.topic === 'delivery', `run topic: ${payload.properties?.topic}`)
    })

    await check('reload mid-batch: nothing lost, nothing written twice', async () => {
      await page.goto(`${running.siteUrl}?flushMs=60000`)
      await page.locator('body[data-ready="true"]').waitFor({ timeout: STEP_TIMEOUT_MS })
      await page.click('button[data-sku="notebook"]')
      await page.click('button[data-sku="mug"]')
      const orders = await eventually('two queued orders', async () => {
        const links = await page
          .locator('.event[data-event="Transaction Created"]')
          .evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.link ?? ''))
        const fresh = links.filter((l) => l !== firstOrder)
        return fresh.length >= 2 ? fresh.slice(0, 2) : undefined
      })
      for (const order of orders) await waitForItem(page, order, 'demo-transaction', { send: ['queued'] })
      // Still in the browser: neither the sandbox nor the proxy has them.
      const before = await snapshot(running)
      const early = before.transactions.filter((t) => orders.includes(String(t.data.orderId)))
      assert(early.length === 0, `the orders reached the sandbox before the reload (${early.length})`)

      await page.reload()
      await page.locator('body[data-ready="true"]').waitFor({ timeout: STEP_TIMEOUT_MS })
      for (const order of orders) {
        await waitForItem(page, order, 'demo-transaction', {
          send: ['accepted', 'duplicate'],
          state: 'delivered',
          arrived: 'yes',
        })
      }
      // Give a late duplicate (the unload request and the re-send) time to land, then count.
      await new Promise((resolve) => setTimeout(resolve, 1500))
      const s = await snapshot(running)
      for (const order of orders) {
        const n = s.transactions.filter((t) => t.data.orderId === order).length
        assert(n === 1, `order ${order}: ${n} transactions`)
      }
      const repeated = Object.entries(s.transactionKeyCounts).filter(([, n]) => n !== 1)
      assert(repeated.length === 0, `keys written more than once: ${JSON.stringify(repeated)}`)
      assert(s.transactions.length === 3, `expected 3 transactions in all, found ${s.transactions.length}`)
      assert(s.contacts.length === 1 + seededContacts(s), `contacts: ${s.contacts.length}`)
    })

    await check('mapping playground: the mapped payload, then the validation error', async () => {
      await page.goto(running.siteUrl)
      await page.locator('body[data-ready="true"]').waitFor({ timeout: STEP_TIMEOUT_MS })
      await page.locator('#playground-result [data-verdict="ok"]').waitFor({ timeout: STEP_TIMEOUT_MS })
      const payload = JSON.parse(await page.locator('#playground-payload').innerText()) as Record<
        string,
        unknown
      >
      assert(payload.directoryId === 'POOL_012345678901234', `payload: ${JSON.stringify(payload)}`)
      const data = payload.transactionData as Record<string, unknown> | undefined
      assert(data?.orderId === 'ord_example1', `transactionData: ${JSON.stringify(data)}`)
      const mapping = await page.inputValue('#playground-mapping')
      await page.fill('#playground-mapping', mapping.replace('POOL_012345678901234', 'POOL_not-an-id'))
      await page.locator('#playground-result [data-verdict="invalid"]').waitFor({ timeout: STEP_TIMEOUT_MS })
      const issues = await page.locator('#playground-issues').innerText()
      assert(/directoryId/.test(issues) && /POOL_not-an-id/.test(issues), `issues: ${issues}`)
      await page.fill('#playground-mapping', '{ "id": "x", "action": "nope" }')
      await page
        .locator('#playground-result [data-verdict="mapping-error"]')
        .waitFor({ timeout: STEP_TIMEOUT_MS })
      await page.selectOption('#playground-preset', 'example-transaction')
    })

    await check('the page talked to nothing but this machine, and never saw the token', async () => {
      assert(foreign.length === 0, `requests to other hosts: ${foreign.slice(0, 5).join(', ')}`)
      assert(pageErrors.length === 0, `errors on the page: ${pageErrors.slice(0, 3).join(' | ')}`)
      assert(bodies.length > 10, `only ${bodies.length} responses recorded`)
      const leaked = bodies.filter((b) => b.includes(info.token))
      assert(leaked.length === 0, `${leaked.length} response(s) to the page contain the API token`)
    })

    // The screenshot: the first screen with all the events, then the whole page.
    await page.evaluate(() => {
      ;(document.activeElement as HTMLElement | null)?.blur()
      window.scrollTo(0, 0)
    })
    await new Promise((resolve) => setTimeout(resolve, 300))
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    log(`e2e: [${elapsed()}] screenshot ${SCREENSHOT}`)
    if (args.has('--update-screenshot')) {
      copyFileSync(SCREENSHOT, COMMITTED_SCREENSHOT)
      log(`e2e: updated ${COMMITTED_SCREENSHOT}`)
    }
  } catch (error) {
    results.push({ name: 'setup', ok: false, detail: error instanceof Error ? error.message : String(error) })
    log(`  ✗ setup: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  } finally {
    await browser?.close().catch(() => {})
    await demo?.close().catch((error: unknown) => log(`e2e: shutdown: ${String(error)}`))
    proxyLog.end()
    clearTimeout(watchdog)
  }

  log(`e2e: [${elapsed()}] stopped the browser, the site, the proxy and the sandbox`)
  if (consoleLines.length > 0) {
    log(`e2e: the page's console said (not a failure by itself):`)
    for (const line of consoleLines) log(`  ${line.slice(0, 300)}`)
  }
  const passed = results.filter((r) => r.ok).length
  const failed = results.length - passed
  log(`${passed} passed, ${failed} failed`)
  return failed > 0 ? 1 : 0
}

/** Contacts the sandbox was seeded with (not ours). */
function seededContacts(s: SandboxSnapshot): number {
  return s.contacts.filter((c) => c.origin === 'seed').length
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`e2e: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    log('0 passed, 1 failed')
    process.exit(1)
  },
)
