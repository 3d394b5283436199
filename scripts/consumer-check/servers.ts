// The servers of the consumer check, each started from an installed tarball's bin: the sandbox (a local
// Qualtrics) and the proxy; plus a static file server for the page Vite built, and reading what arrived.
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { extname, join, normalize } from 'node:path'
import { ScriptError, start, type Started } from '../lib/run'

export interface RunningSandbox {
  process: Started
  url: string
  token: string
  directoryId: string
  mailingListId: string
  workflowUrl: string
}

/** `qualtrics-sandbox --port 0`, from the app's node_modules/.bin; its start-up lines name what to use. */
export async function startSandboxBin(app: string): Promise<RunningSandbox> {
  const process = await start(
    join(app, 'node_modules', '.bin', 'qualtrics-sandbox'),
    ['--port', '0'],
    /Press Ctrl\+C/,
    {
      cwd: app,
    },
  )
  const line = (label: string) => {
    const match = process.output().match(new RegExp(`${label}:\\s+(\\S+)`))
    if (!match) throw new ScriptError(`the sandbox did not print its ${label}:\n${process.output()}`)
    return match[1]!
  }
  return {
    process,
    url: line('base URL'),
    token: line('token'),
    directoryId: line('directory id'),
    mailingListId: line('mailing list id'),
    workflowUrl: line('workflow URL'),
  }
}

/** The three mappings of the check: identify → contact, a purchase → transaction, feedback → workflow. */
export function mappingsFor(sandbox: RunningSandbox) {
  return [
    { id: 'contact', action: 'addContactToXmd', fields: { directoryId: sandbox.directoryId } },
    {
      id: 'purchase',
      action: 'upsertContactTransaction',
      fields: { directoryId: sandbox.directoryId, mailingListId: sandbox.mailingListId },
    },
    {
      id: 'feedback',
      action: 'triggerXflowWorkflow',
      trigger: 'type = "track" and event = "Feedback Requested"',
      fields: { workflowUrl: sandbox.workflowUrl },
    },
  ]
}

export interface RunningProxy {
  process: Started
  url: string
}

/**
 * `qualtrics-relay-proxy start --config relay.json`, configured as its README says: a config file with the
 * write keys and their mappings, the token in the environment, and `qualtrics.baseUrl` pointing at the
 * sandbox (a Qualtrics of our own) instead of a datacenter.
 */
export async function startProxyBin(
  app: string,
  sandbox: RunningSandbox,
  pageOrigin: string,
): Promise<RunningProxy> {
  const mappings = mappingsFor(sandbox)
  const config = {
    server: { host: '127.0.0.1', port: 0 },
    storage: { path: 'relay.db' },
    qualtrics: { baseUrl: sandbox.url },
    logLevel: 'warn',
    writeKeys: {
      wk_server: { name: 'Server', mappings },
      wk_web: { name: 'Web', origins: [pageOrigin], mappings },
    },
  }
  writeFileSync(join(app, 'relay.json'), JSON.stringify(config, null, 2))
  const process = await start(
    join(app, 'node_modules', '.bin', 'qualtrics-relay-proxy'),
    ['start', '--config', 'relay.json'],
    /listening on (http:\/\/[^\s,]+)/,
    { cwd: app, env: { ...globalThis.process.env, QUALTRICS_API_TOKEN: sandbox.token } },
  )
  return { process, url: process.match[1]! }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
}

/** Serves the files of `root` (set later, once built) on 127.0.0.1 and a free port. */
export async function startStaticServer(): Promise<{
  server: Server
  origin: string
  serve(root: string): void
}> {
  let root = ''
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname))
    const file = join(root, path.endsWith('/') ? `${path}index.html` : path)
    try {
      if (!root || !file.startsWith(root)) throw new ScriptError('outside the served folder')
      const body = readFileSync(file)
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' })
      res.end(body)
    } catch {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return { server, origin: `http://127.0.0.1:${port}`, serve: (folder) => (root = folder) }
}

/** The sandbox's inspection API (`GET /__sandbox/state`), the parts the check reads. */
export interface SandboxState {
  contacts: { id: string; extRef?: string; email?: string }[]
  transactions: { contactId: string; data: Record<string, unknown> }[]
  workflowRuns: { payload: unknown }[]
}

async function readState(sandbox: RunningSandbox): Promise<SandboxState> {
  const response = await fetch(`${sandbox.url}/__sandbox/state`)
  if (!response.ok) throw new ScriptError(`the sandbox's state answered HTTP ${response.status}`)
  return (await response.json()) as SandboxState
}

export interface Arrivals {
  contact: boolean
  transaction: boolean
  workflow: boolean
}

/** What arrived in the sandbox for `userId`: its contact, a transaction on it, a workflow run naming it. */
export function arrivalsFor(state: SandboxState, userId: string): Arrivals {
  const contact = state.contacts.find((c) => c.extRef === userId)
  return {
    contact: contact !== undefined,
    transaction: contact !== undefined && state.transactions.some((t) => t.contactId === contact.id),
    workflow: state.workflowRuns.some(
      (run) => typeof run.payload === 'object' && (run.payload as { userId?: unknown }).userId === userId,
    ),
  }
}

/** Polls the sandbox until all three arrived for `userId`, or `timeoutMs` passed; throws naming what is missing. */
export async function waitForArrivals(
  sandbox: RunningSandbox,
  userId: string,
  timeoutMs = 20_000,
): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const arrived = arrivalsFor(await readState(sandbox), userId)
    const missing = Object.entries(arrived)
      .filter(([, ok]) => !ok)
      .map(([what]) => what)
    if (missing.length === 0) return
    if (Date.now() > until)
      throw new ScriptError(`for ${userId}, the sandbox never received: ${missing.join(', ')}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}
