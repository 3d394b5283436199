// The page Vite built from the installed tarballs, in Debian's Chromium: analytics-next with the browser
// plugin, pointed at the proxy started from its tarball's bin. The visitor signs in, buys and asks for
// feedback; the events must reach the sandbox through the proxy, and the plugin must report no failure.
import { chromium, type Browser } from 'playwright-core'
import { ScriptError } from '../lib/run'

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true })
}

/** Loads the page and sends the three events as a visitor `userId` would; the page stays open (its
 *  plugin still sending) until `close()`. */
export async function playVisitor(
  browser: Browser,
  pageUrl: string,
  userId: string,
): Promise<{ consoleErrors: string[]; close(): Promise<void> }> {
  const page = await browser.newPage()
  const consoleErrors: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text())
  })
  page.on('pageerror', (e) => consoleErrors.push(e.message))
  const close = () => page.close()
  try {
    await page.goto(pageUrl)
    await page.waitForFunction(() => 'analytics' in window, null, { timeout: 15_000 })
    await page.evaluate(async (id) => {
      const { analytics } = window as unknown as {
        analytics: {
          identify(id: string, traits: object): Promise<unknown>
          track(event: string, properties: object): Promise<unknown>
        }
      }
      await analytics.identify(id, { email: `${id}@example.com`, firstName: 'Ada' })
      await analytics.track('Transaction Created', { orderId: `o-${id}`, total: 42 })
      await analytics.track('Feedback Requested', { topic: 'delivery' })
    }, userId)
    const failures = await page.evaluate(() => (window as unknown as { pluginErrors: string[] }).pluginErrors)
    if (failures.length > 0) throw new ScriptError(`the plugin reported failures:\n${failures.join('\n')}`)
    return { consoleErrors, close }
  } catch (error) {
    await close()
    throw error
  }
}
