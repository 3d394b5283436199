// Flags of the `qualtrics-sandbox` command. Parsing is pure so it can be tested without a process.

import { SandboxError } from './errors'

export interface CliArgs {
  port: number
  host: string
  seedFile?: string
  persistFile?: string
  rateLimit?: number
  retryAfter: boolean
  randomSeed?: number
  help: boolean
}

export const USAGE = `Usage: qualtrics-sandbox [options]

A local simulator of the Qualtrics REST API (XM Directory contacts, transactions, workflow triggers).

Options:
  --port <n>            Port to listen on, 0 for a free one (default 4010)
  --host <host>         Interface to bind (default 127.0.0.1)
  --seed <file.json>    Seed: users/tokens, directories with merge rules, mailing lists, contacts, workflows
  --persist <file.json> Keep the state in this file (loaded at start when it exists, written on change)
  --rate-limit <n>      Requests per minute per brand (default 3000)
  --no-retry-after      Do not send Retry-After with 429 answers
  --random-seed <n>     Seed of the id generator, for reproducible ids
  -h, --help            Show this help
`

export const DEFAULT_CLI_PORT = 4010

function fail(message: string): never {
  throw new SandboxError('INVALID_CLI_ARGUMENT', message)
}

function integer(flag: string, raw: string, min: number, max: number): number {
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    fail(`${flag} must be an integer from ${min} to ${max} (Received: ${JSON.stringify(raw)})`)
  }
  return value
}

const VALUE_FLAGS = new Set(['--port', '--host', '--seed', '--persist', '--rate-limit', '--random-seed'])
const BOOLEAN_FLAGS = new Set(['--no-retry-after', '--help', '-h'])

export function parseCliArgs(argv: readonly string[]): CliArgs {
  const args: CliArgs = { port: DEFAULT_CLI_PORT, host: '127.0.0.1', retryAfter: true, help: false }
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? ''
    if (token === '--') continue
    const eq = token.indexOf('=')
    const flag = token.startsWith('--') && eq > 0 ? token.slice(0, eq) : token
    if (BOOLEAN_FLAGS.has(flag)) {
      if (flag !== token) fail(`${flag} takes no value (Received: ${JSON.stringify(token)})`)
      if (flag === '--no-retry-after') args.retryAfter = false
      else args.help = true
      continue
    }
    if (!VALUE_FLAGS.has(flag)) {
      fail(
        token.startsWith('-')
          ? `Unknown option ${flag} (Received: ${JSON.stringify(token)})`
          : `Unexpected argument (Received: ${JSON.stringify(token)})`,
      )
    }
    let value: string | undefined
    if (flag !== token) value = token.slice(eq + 1)
    else {
      value = argv[i + 1]
      if (value === undefined || (value.startsWith('--') && value.length > 2))
        fail(`${flag} needs a value (Received: nothing)`)
      i++
    }
    switch (flag) {
      case '--port':
        args.port = integer(flag, value, 0, 65535)
        break
      case '--host':
        if (value.trim() === '')
          fail(`--host needs a host name or address (Received: ${JSON.stringify(value)})`)
        args.host = value
        break
      case '--seed':
        if (value === '') fail('--seed needs a file path (Received: "")')
        args.seedFile = value
        break
      case '--persist':
        if (value === '') fail('--persist needs a file path (Received: "")')
        args.persistFile = value
        break
      case '--rate-limit':
        args.rateLimit = integer(flag, value, 1, 1_000_000_000)
        break
      case '--random-seed':
        args.randomSeed = integer(flag, value, 0, 2 ** 32 - 1)
        break
    }
  }
  return args
}
