// `pnpm test:consumer`: what users install, installed and run the way they would. Builds, `pnpm pack`s
// every publishable package, checks each tarball, npm-installs the tarballs into scratch apps in the
// system's temp folder (outside the workspace), and runs them:
//   - TypeScript over every public entry (nodenext, bundler; skipLibCheck false);
//   - a Node ESM app with the node plugin, direct to the sandbox (started from its tarball's bin) and
//     through the proxy (started from its tarball's bin with a config file), each event checked in the
//     sandbox;
//   - a Vite production build of a page with analytics-next and the browser plugin, in Chromium, its
//     events reaching the sandbox through the proxy; and the size that page pays for the plugin (ratchet);
//   - the node plugin in an app without better-sqlite3: SQLite storage fails at construction.
// Prints one line per check and "N passed, M failed" last; exits 1 on any failure. Removes what it made.
//
//   tsx scripts/consumer-check/run.ts [--no-build] [--keep]
//
// --no-build packs the dist folders as they are; --keep leaves the scratch folder (its path is printed).
import { join } from 'node:path'
import { LIMIT, measureApp } from '../browser-size'
import { checkTarball, readTarball } from '../lib/check-tarball'
import { ScriptError } from '../lib/run'
import { makeScratchDir, npmInstall, removeScratchDir } from '../lib/scratch'
import { buildPage, createViteApp } from '../lib/vite-app'
import { buildPackages, packageDir, packPackages, PUBLISHABLE, workspaceVersion } from '../lib/workspace'
import { launchChromium, playVisitor } from './browser-app'
import { checkMissingSqlite, sendEvents } from './node-app'
import {
  mappingsFor,
  startProxyBin,
  startSandboxBin,
  startStaticServer,
  waitForArrivals,
  type RunningProxy,
  type RunningSandbox,
} from './servers'
import { typeChecks } from './types-app'

const args = new Set(process.argv.slice(2))
const T0 = Date.now()
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const log = (line: string) => process.stdout.write(`${line}\n`)

const results: { name: string; ok: boolean }[] = []
/** Runs one check; a failure is printed and counted, and the run goes on. */
async function check(name: string, body: () => Promise<void>): Promise<boolean> {
  const started = Date.now()
  try {
    await body()
    results.push({ name, ok: true })
    log(`  ✓ ${name} (${seconds(Date.now() - started)})`)
    return true
  } catch (error) {
    results.push({ name, ok: false })
    const detail = error instanceof Error ? error.message : String(error)
    log(`  ✗ ${name}\n      ${detail.split('\n').join('\n      ')}`)
    return false
  }
}
/** A step everything after depends on: its failure ends the run. */
async function step<T>(name: string, body: () => Promise<T>): Promise<T> {
  const started = Date.now()
  const value = await body()
  log(`  · ${name} (${seconds(Date.now() - started)})`)
  return value
}

const cleanups: (() => unknown)[] = []
async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup()
    } catch (error) {
      log(`  (cleanup failed: ${error instanceof Error ? error.message : String(error)})`)
    }
  }
}
// A bound on the whole run whatever hangs (an install, a compiler, a server): about 2-3 minutes on an idle
// 2-core machine, several times that on a busy one.
const WATCHDOG_MS = 20 * 60_000
setTimeout(() => {
  log(`  ✗ the consumer check ran over ${WATCHDOG_MS / 60_000} minutes`)
  void cleanUp().finally(() => process.exit(1))
}, WATCHDOG_MS).unref()

let exitCode = 0
try {
  log('consumer check: the packages as users install them')
  if (!args.has('--no-build')) await step('pnpm build', buildPackages)
  const scratch = makeScratchDir('consumer')
  if (args.has('--keep')) log(`  scratch folder: ${scratch}`)
  else cleanups.push(() => removeScratchDir(scratch))

  const tarballs = await step('pnpm pack of every package', () => packPackages(join(scratch, 'tarballs')))
  for (const dir of PUBLISHABLE) {
    await check(`${dir} tarball: manifest, files named by exports/types/bin, declared imports`, async () => {
      const { manifest, files } = await readTarball(tarballs[dir])
      const problems = checkTarball(manifest, files, {
        sourceDir: packageDir(dir),
        ...(dir === 'browser-plugin' ? { scriptTagBuild: 'dist/qualtrics-relay.min.js' } : {}),
      })
      if (problems.length > 0) throw new ScriptError(problems.join('\n'))
    })
  }

  const app = join(scratch, 'app')
  const noSqlite = join(scratch, 'no-sqlite')
  await step('npm install of the tarballs into the scratch apps', async () => {
    await createViteApp(
      app,
      PUBLISHABLE.map((dir) => tarballs[dir]),
      ['@segment/analytics-node', 'typescript', '@types/node'].map((n) => `${n}@${workspaceVersion(n)}`),
    )
    await npmInstall(noSqlite, [
      `@segment/analytics-node@${workspaceVersion('@segment/analytics-node')}`,
      tarballs.core,
      tarballs['node-plugin'],
    ])
  })

  // The compilations run side by side: each waits mostly on its own tsc process.
  await Promise.all(typeChecks(app).map((t) => check(t.name, () => t.run())))

  await check('node plugin without better-sqlite3: SQLite storage fails at construction, naming both', () =>
    checkMissingSqlite(noSqlite),
  )

  const sandbox: RunningSandbox = await step('sandbox from its bin (qualtrics-sandbox --port 0)', () =>
    startSandboxBin(app),
  )
  cleanups.push(() => sandbox.process.stop())
  const mappings = mappingsFor(sandbox)

  await check(
    'node plugin, direct mode: identify, transaction and workflow arrive in the sandbox',
    async () => {
      await sendEvents(app, { apiToken: sandbox.token, baseUrl: sandbox.url, mappings }, 'node-direct-user')
      await waitForArrivals(sandbox, 'node-direct-user')
    },
  )

  const site = await startStaticServer()
  cleanups.push(() => new Promise((resolve) => site.server.close(resolve)))
  const proxy: RunningProxy = await step('proxy from its bin (qualtrics-relay-proxy start --config)', () =>
    startProxyBin(app, sandbox, site.origin),
  )
  cleanups.push(() => proxy.process.stop())

  await check(
    'node plugin via the proxy: identify, transaction and workflow arrive in the sandbox',
    async () => {
      await sendEvents(app, { proxyUrl: proxy.url, writeKey: 'wk_server' }, 'node-proxy-user')
      await waitForArrivals(sandbox, 'node-proxy-user')
    },
  )

  await check(`browser plugin, as installed: adds at most ${LIMIT} B gzip to a Vite build`, async () => {
    const size = await measureApp(app)
    log(
      `      added ${size.added} B gzip (core's part ${size.coreAdded} B, the plugin's own ${size.pluginOwn} B)`,
    )
    if (size.added > LIMIT) throw new ScriptError(`${size.added} B is over the limit of ${LIMIT} B`)
  })

  await check(
    'browser plugin in Chromium (Vite build): events reach the sandbox through the proxy',
    async () => {
      site.serve((await buildPage(app, 'with-plugin')).outDir)
      const browser = await launchChromium()
      try {
        const query = `?proxy=${encodeURIComponent(proxy.url)}&writeKey=wk_web`
        const visit = await playVisitor(browser, `${site.origin}/${query}`, 'web-user')
        await waitForArrivals(sandbox, 'web-user')
        await visit.close()
      } finally {
        await browser.close()
      }
    },
  )
} catch (error) {
  log(`  ✗ the check could not go on: ${error instanceof Error ? error.message : String(error)}`)
  exitCode = 1
} finally {
  await cleanUp()
}

const failed = results.filter((r) => !r.ok).length
log(`consumer check took ${seconds(Date.now() - T0)}`)
log(`${results.length - failed} passed, ${failed} failed`)
process.exit(failed > 0 || exitCode !== 0 ? 1 : 0)
