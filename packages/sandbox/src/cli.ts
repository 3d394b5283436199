// The `qualtrics-sandbox` command: parse flags, start the sandbox, print what a client needs, and stop
// cleanly on SIGINT/SIGTERM.

import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { existsSync } from 'node:fs'
import { USAGE, parseCliArgs, type CliArgs } from './cli-args'
import { SandboxError } from './errors'
import { parseSeed, type SeedInput } from './seed'
import { startSandbox, type StartSandboxOptions } from './server'

function readSeedFile(file: string, given: string): SeedInput {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new SandboxError(
      'INVALID_CLI_ARGUMENT',
      `--seed cannot read the file (Received: ${JSON.stringify(given)})`,
      { cause: error },
    )
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new SandboxError(
      'INVALID_CLI_ARGUMENT',
      `--seed file is not valid JSON (Received: ${JSON.stringify(given)})`,
      { cause: error },
    )
  }
  try {
    return parseSeed(json)
  } catch (error) {
    if (error instanceof SandboxError) {
      throw new SandboxError(
        'INVALID_CLI_ARGUMENT',
        `--seed file ${JSON.stringify(given)}: ${error.message}`,
        { cause: error },
      )
    }
    throw error
  }
}

function toOptions(args: CliArgs): StartSandboxOptions {
  const options: StartSandboxOptions = { port: args.port, host: args.host }
  if (args.seedFile !== undefined) options.seed = readSeedFile(resolve(args.seedFile), args.seedFile)
  if (args.persistFile !== undefined) {
    const file = resolve(args.persistFile)
    if (!existsSync(dirname(file))) {
      throw new SandboxError(
        'INVALID_CLI_ARGUMENT',
        `--persist folder does not exist (Received: ${JSON.stringify(args.persistFile)})`,
      )
    }
    options.persistFile = file
  }
  options.rateLimit = {
    retryAfter: args.retryAfter,
    ...(args.rateLimit === undefined ? {} : { perMinute: args.rateLimit }),
  }
  if (args.randomSeed !== undefined) options.randomSeed = args.randomSeed
  return options
}

async function main(argv: readonly string[]): Promise<void> {
  // A closed pipe (e.g. `| head`) must not crash the sandbox while it prints or stops.
  process.stdout.on('error', () => undefined)
  process.stderr.on('error', () => undefined)
  let args: CliArgs
  let options: StartSandboxOptions
  try {
    args = parseCliArgs(argv)
    if (args.help) {
      process.stdout.write(USAGE)
      return
    }
    options = toOptions(args)
  } catch (error) {
    if (error instanceof SandboxError) {
      process.stderr.write(`qualtrics-sandbox: ${error.message}\nRun qualtrics-sandbox --help for usage.\n`)
      process.exitCode = 2
      return
    }
    throw error
  }

  const running = await startSandbox({
    ...options,
    onPersistError: (error) => process.stderr.write(`qualtrics-sandbox: ${error.message}\n`),
  }).catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error)
    process.stderr.write(`qualtrics-sandbox: cannot start: ${message}\n`)
    process.exit(1)
  })

  const lines = [
    `Qualtrics sandbox listening on ${running.url}`,
    `  base URL:        ${running.url}`,
    `  token:           ${running.token}`,
    `  datacenter:      ${running.datacenter}`,
    `  directory id:    ${running.directoryId}`,
    `  mailing list id: ${running.mailingListId}`,
    `  workflow URL:    ${running.workflowUrl}`,
    `  inspect:         ${running.url}/  (JSON: ${running.url}/__sandbox/state)`,
    ...(options.persistFile === undefined ? [] : [`  state file:      ${options.persistFile}`]),
    'Press Ctrl+C to stop.',
  ]
  process.stdout.write(`${lines.join('\n')}\n`)

  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.exit(1)
    }
    stopping = true
    process.stdout.write(`Received ${signal}, stopping…\n`)
    running.close().then(
      () => {
        process.stdout.write('Stopped.\n')
        process.exit(0)
      },
      (error: unknown) => {
        process.stderr.write(
          `qualtrics-sandbox: error while stopping: ${error instanceof Error ? error.message : String(error)}\n`,
        )
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

await main(process.argv.slice(2))
