// qualtrics-relay-proxy — start the proxy, check the token, list and replay dead letters.
//
//   qualtrics-relay-proxy [start] [--config <file>] [--sandbox]
//   qualtrics-relay-proxy check [--config <file>] [--sandbox] [--live [--write-test <directoryId>]]
//   qualtrics-relay-proxy dead-letters list [--url <proxy>] [--limit <n>] [--after <id>]
//   qualtrics-relay-proxy dead-letters replay (--all | <id>…) [--url <proxy>]
//
// The dead-letter commands talk to a running proxy's admin API (RELAY_ADMIN_TOKEN), so they work
// while the proxy delivers, and for any storage the proxy uses.
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { ConfigError, RelayError } from '@qualtrics-relay/core'
import { createQualtricsClient } from '@qualtrics-relay/core/server'
import { startSandbox } from '@qualtrics-relay/sandbox'
import {
  applySandboxValues,
  DEFAULTS,
  loadConfig,
  readAdminToken,
  type Env,
  type ProxyConfig,
} from './config'
import { checkLive, datacenterWarning } from './live-check'
import { installShutdownHandlers, startServer } from './server'

export interface CliIo {
  out(line: string): void
  err(line: string): void
  /** Called by the signal handlers after a shutdown. Default: `process.exit`. */
  exit?(code: number): void
  /** The environment. Default: the process' (read in config.ts). */
  env?: Env
}

const USAGE = `Usage:
  qualtrics-relay-proxy [start] [--config <file>] [--sandbox]   start the proxy
  qualtrics-relay-proxy check [--config <file>] [--sandbox]     verify the token (whoami) and list directories
  qualtrics-relay-proxy check --live [--write-test <directoryId>]
                                  check the configured account as the relay uses it (read-only unless
                                  --write-test) and record what it verified (liveCheck.recordPath)
  qualtrics-relay-proxy dead-letters list [--url <url>] [--limit <n>] [--after <id>]
  qualtrics-relay-proxy dead-letters replay (--all | <id>...) [--url <url>]

Options:
  --config <file>  config file (default: $RELAY_CONFIG; with --sandbox and no file, the built-in demo config)
  --sandbox        mode "sandbox": start a local Qualtrics simulator and call nothing else (no token needed)
  --url <url>      the running proxy, for dead-letters (default: http://127.0.0.1:${DEFAULTS.port})
  --limit <n>      dead letters per page, 1-1000 (default 100)
  --after <id>     list dead letters after this id (paging)
  --all            replay every dead letter
  --live           check: whoami, every configured directory and mailing list, a documented search,
                   whether "or" look-ups are honoured; one line each, exit 1 on a failure
  --write-test <d> with --live: also create a marked test contact and transaction in directory <d>
                   and read them back
  -h, --help       show this help

Environment: QUALTRICS_API_TOKEN, QUALTRICS_DATACENTER, QUALTRICS_BASE_URL, RELAY_CONFIG, RELAY_MODE,
RELAY_ADMIN_TOKEN (admin API and dead-letters commands), PORT, HOST, RELAY_LOG_LEVEL.`

const OPTIONS = {
  config: { type: 'string' },
  url: { type: 'string' },
  limit: { type: 'string' },
  after: { type: 'string' },
  all: { type: 'boolean' },
  sandbox: { type: 'boolean' },
  live: { type: 'boolean' },
  'write-test': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

const ALLOWED: Record<string, readonly string[]> = {
  start: ['config', 'sandbox'],
  check: ['config', 'sandbox', 'live', 'write-test'],
  'dead-letters list': ['url', 'limit', 'after'],
  'dead-letters replay': ['url', 'all'],
}

/** Runs the CLI; resolves with the exit code (`start` resolves once the server listens, with 0). */
export async function main(argv: readonly string[], io: CliIo = consoleIo()): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true })
  } catch (error) {
    io.err(`error: ${error instanceof Error ? error.message : String(error)}`)
    io.err('Run qualtrics-relay-proxy --help for usage.')
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    io.out(USAGE)
    return 0
  }
  const [first = 'start', second, ...rest] = positionals
  const command = first === 'dead-letters' ? `dead-letters ${second ?? ''}`.trim() : first
  const args = first === 'dead-letters' ? rest : [second, ...rest].filter((x): x is string => x !== undefined)
  const allowed = ALLOWED[command]
  if (allowed === undefined) {
    io.err(`error: unknown command ${JSON.stringify(command)}`)
    io.err('Run qualtrics-relay-proxy --help for usage.')
    return 2
  }
  const misplaced = Object.keys(values).filter((k) => !allowed.includes(k))
  if (misplaced.length > 0) {
    io.err(`error: ${misplaced.map((k) => `--${k}`).join(', ')} cannot be used with "${command}"`)
    return 2
  }
  if (command !== 'dead-letters replay' && args.length > 0) {
    io.err(`error: unexpected argument ${JSON.stringify(args[0])} for "${command}"`)
    return 2
  }

  try {
    switch (command) {
      case 'start':
        return await start(configOptions(values, io), io)
      case 'check':
        if (values['write-test'] !== undefined && values.live !== true) {
          io.err('error: --write-test needs --live')
          return 2
        }
        return await check(configOptions(values, io), io, {
          live: values.live === true,
          ...(values['write-test'] === undefined ? {} : { writeTest: values['write-test'] }),
        })
      case 'dead-letters list':
        return await listDeadLetters(values, io)
      default:
        return await replay(values, args, io)
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(error.message)
      return 1
    }
    io.err(`error: ${error instanceof RelayError || error instanceof Error ? error.message : String(error)}`)
    return 1
  }
}

type ConfigOptions = Parameters<typeof loadConfig>[0]

function configOptions(values: { config?: string; sandbox?: boolean }, io: CliIo): ConfigOptions {
  return {
    ...(values.config === undefined ? {} : { configPath: values.config }),
    ...(io.env === undefined ? {} : { env: io.env }),
    ...(values.sandbox ? { mode: 'sandbox' as const } : {}),
  }
}

/** `sandbox` or `qualtrics (https://iad1.qualtrics.com)`: for the start-up line and `check`. */
function describeMode(config: ProxyConfig): string {
  const q = config.qualtrics
  if (q.mode === 'sandbox') return 'sandbox'
  return `qualtrics (${q.baseUrl ?? `https://${q.datacenter ?? '?'}.qualtrics.com`})`
}

async function start(options: ConfigOptions, io: CliIo): Promise<number> {
  const config = loadConfig(options)
  const running = await startServer(config)
  installShutdownHandlers(running, io.exit ?? ((code) => process.exit(code)))
  io.err(`qualtrics-relay proxy listening on ${running.url}, mode ${describeMode(config)}`)
  if (running.sandbox) {
    io.err(`sandbox mode: Qualtrics simulated at ${running.sandbox.url}`)
    for (const wk of running.config.writeKeys.values()) {
      io.err(`  write key ${wk.key} (${wk.name}): mappings ${wk.mappings.map((m) => m.id).join(', ')}`)
    }
  }
  return 0
}

async function check(
  options: ConfigOptions,
  io: CliIo,
  live: { live: boolean; writeTest?: string },
): Promise<number> {
  let config = loadConfig(options)
  io.out(`mode: ${describeMode(config)}`)
  const sandbox =
    config.qualtrics.mode === 'sandbox' ? await startSandbox({ port: 0, host: '127.0.0.1' }) : undefined
  try {
    let target: { apiToken: string; datacenter?: string; baseUrl?: string }
    if (sandbox) {
      target = { apiToken: sandbox.token, datacenter: sandbox.datacenter, baseUrl: sandbox.url }
      config = applySandboxValues(config, sandbox)
    } else if (config.qualtrics.mode === 'qualtrics') {
      const { mode: _mode, ...qualtrics } = config.qualtrics
      target = qualtrics
      const warning = datacenterWarning(qualtrics.datacenter)
      if (warning !== undefined) io.out(warning)
    } else return 1
    const client = createQualtricsClient(target)
    if (live.live) return await checkLive(config, client, target, io, live)
    const me = await client.whoami()
    io.out(`token ok: ${me.userName} (${me.userId}), brand ${me.brandId}${sandbox ? ' [sandbox]' : ''}`)
    const directories = await client.listDirectories()
    io.out(
      `${directories.length} director${directories.length === 1 ? 'y' : 'ies'}${directories.length ? ':' : ''}`,
    )
    for (const d of directories) {
      io.out(
        `  ${d.directoryId}  ${d.name}${d.isDefault ? ' (default)' : ''}${d.contactCount === undefined ? '' : `, ${count(d.contactCount, 'contact')}`}`,
      )
    }
    return 0
  } finally {
    await sandbox?.close()
  }
}

interface AdminValues {
  url?: string
  limit?: string
  after?: string
  all?: boolean
}

async function admin(values: AdminValues, io: CliIo, path: string, init: RequestInit = {}): Promise<unknown> {
  const token = readAdminToken(io.env)
  if (token === undefined)
    throw new RelayError('CONFIG_INVALID', 'RELAY_ADMIN_TOKEN must be set to use the admin API')
  const base = values.url ?? `http://127.0.0.1:${DEFAULTS.port}`
  let url: URL
  try {
    url = new URL(path, base.endsWith('/') ? base : `${base}/`)
  } catch {
    throw new RelayError(
      'CONFIG_INVALID',
      `--url must be the proxy's URL, e.g. http://127.0.0.1:${DEFAULTS.port} (Received: ${JSON.stringify(base)})`,
    )
  }
  let response: Response
  try {
    response = await fetch(url, {
      ...init,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    })
  } catch (error) {
    throw new RelayError(
      'NETWORK_ERROR',
      `Cannot reach the proxy at ${url.origin}: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
  const text = await response.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  if (!response.ok) {
    const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message
    throw new RelayError(
      'DELIVERY_FAILED',
      `The proxy answered ${response.status}: ${typeof message === 'string' ? message : 'no details'}`,
    )
  }
  return body
}

async function listDeadLetters(values: AdminValues, io: CliIo): Promise<number> {
  const query = new URLSearchParams()
  if (values.limit !== undefined) query.set('limit', values.limit)
  if (values.after !== undefined) query.set('after', values.after)
  const body = (await admin(values, io, `admin/dead-letters?${query}`)) as {
    deadLetters: {
      id: string
      messageId: string
      mappingId: string
      action: string
      attempts: number
      lastError?: { code: string; message: string }
    }[]
    next?: string
  }
  for (const d of body.deadLetters) {
    io.out(
      `${d.id}  ${d.action}  message ${d.messageId}  mapping ${d.mappingId}  attempts ${d.attempts}  ${d.lastError ? `${d.lastError.code}: ${d.lastError.message}` : ''}`.trimEnd(),
    )
  }
  io.err(
    `${count(body.deadLetters.length, 'dead letter')}${body.next ? ` (more: --after ${body.next})` : ''}`,
  )
  return 0
}

async function replay(values: AdminValues, ids: string[], io: CliIo): Promise<number> {
  if (values.all && ids.length > 0) {
    io.err('error: give either --all or dead-letter ids, not both')
    return 2
  }
  if (!values.all && ids.length === 0) {
    io.err('error: name the dead letters to replay, or --all to replay every one')
    return 2
  }
  const body = (await admin(values, io, 'admin/dead-letters/replay', {
    method: 'POST',
    body: JSON.stringify(values.all ? {} : { ids }),
  })) as { replayed: number }
  const asked = values.all ? undefined : new Set(ids).size
  io.out(
    `replayed ${count(body.replayed, 'dead letter')}${asked === undefined ? '' : ` of ${asked} asked for`}`,
  )
  if (asked !== undefined && body.replayed < asked) {
    const missing = asked - body.replayed
    io.err(
      `error: ${count(missing, 'id')} given ${missing === 1 ? 'is' : 'are'} not a dead letter (unknown, or already replayed or delivered); see "dead-letters list"`,
    )
    return 1
  }
  return 0
}

/** `1 dead letter`, `2 dead letters`. */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

function consoleIo(): CliIo {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  }
}

/** Runs `main` with the process' arguments and exits with its code (except after a successful start). */
export async function run(): Promise<void> {
  const argv = process.argv.slice(2)
  const code = await main(argv)
  const starting = (argv[0] ?? 'start') === 'start' || argv[0]?.startsWith('-')
  if (code !== 0 || !starting) process.exitCode = code
}

const entry = process.argv[1]
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) void run()
