import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { parseCliArgs } from '../src/cli-args'
import type { Json } from './support'

const BIN = fileURLToPath(new URL('../bin/qualtrics-sandbox.js', import.meta.url))
const folder = mkdtempSync(join(tmpdir(), 'qualtrics-sandbox-cli-'))
afterAll(() => rmSync(folder, { recursive: true, force: true }))

describe('parseCliArgs', () => {
  it.each([
    [[], { port: 4010, host: '127.0.0.1', retryAfter: true, help: false }],
    [['--port', '0', '--host', '0.0.0.0'], { port: 0, host: '0.0.0.0', retryAfter: true, help: false }],
    [
      ['--port=8080', '--rate-limit=60', '--no-retry-after'],
      { port: 8080, host: '127.0.0.1', rateLimit: 60, retryAfter: false, help: false },
    ],
    [
      ['--seed', 'seed.json', '--persist', 'state.json', '--random-seed', '9'],
      {
        port: 4010,
        host: '127.0.0.1',
        retryAfter: true,
        help: false,
        seedFile: 'seed.json',
        persistFile: 'state.json',
        randomSeed: 9,
      },
    ],
    [['--', '-h'], { port: 4010, host: '127.0.0.1', retryAfter: true, help: true }],
  ])('parses %j', (argv, expected) => {
    expect(parseCliArgs(argv)).toEqual(expected)
  })

  it.each([
    [['--port', 'abc'], '--port must be an integer from 0 to 65535 (Received: "abc")'],
    [['--port', '70000'], '--port must be an integer from 0 to 65535 (Received: "70000")'],
    [['--rate-limit', '0'], '--rate-limit must be an integer from 1 to 1000000000 (Received: "0")'],
    [['--rate-limit', '1.5'], '--rate-limit must be an integer from 1 to 1000000000 (Received: "1.5")'],
    [['--seed'], '--seed needs a value (Received: nothing)'],
    [['--seed', '--port', '1'], '--seed needs a value (Received: nothing)'],
    [['--host', ' '], '--host needs a host name or address (Received: " ")'],
    [['--no-retry-after=yes'], '--no-retry-after takes no value (Received: "--no-retry-after=yes")'],
    [['--verbose'], 'Unknown option --verbose (Received: "--verbose")'],
    [['serve'], 'Unexpected argument (Received: "serve")'],
  ])('rejects %j naming the flag and the value', (argv, message) => {
    expect(() => parseCliArgs(argv)).toThrow(message)
  })
})

const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
})

function run(args: string[]): {
  child: ChildProcess
  output: () => { stdout: string; stderr: string }
  exited: Promise<number | null>
} {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: folder, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, output: () => ({ stdout, stderr }), exited }
}

function printed(stdout: string): Record<string, string> {
  const values: Record<string, string> = {}
  for (const line of stdout.split('\n')) {
    const match = /^ {2}([a-zA-Z ]+):\s+(\S+)/.exec(line)
    if (match?.[1] && match[2]) values[match[1]] = match[2]
  }
  return values
}

describe('the qualtrics-sandbox command', () => {
  it('prints a token, datacenter, base URL, ids and workflow URL that work, and stops on SIGTERM', async () => {
    const proc = run(['--port', '0', '--random-seed', '3'])
    await expect.poll(() => proc.output().stdout, { timeout: 20_000 }).toContain('Press Ctrl+C to stop.')
    const values = printed(proc.output().stdout)
    expect(Object.keys(values)).toEqual([
      'base URL',
      'token',
      'datacenter',
      'directory id',
      'mailing list id',
      'workflow URL',
      'inspect',
    ])
    expect(values['datacenter']).toBe('sbx1')
    expect(values['directory id']).toMatch(/^POOL_[A-Za-z0-9]{15}$/)
    expect(values['mailing list id']).toMatch(/^CG_[A-Za-z0-9]{15}$/)
    const base = values['base URL'] ?? ''
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const token = values['token'] ?? ''
    const whoami = await fetch(`${base}/API/v3/whoami`, { headers: { 'X-API-TOKEN': token } })
    expect(whoami.status).toBe(200)
    const lists = await fetch(`${base}/API/v3/directories/${values['directory id'] ?? ''}/mailinglists`, {
      headers: { 'X-API-TOKEN': token },
    })
    expect(((await lists.json()) as Json).result.elements[0].mailingListId).toBe(values['mailing list id'])
    const event = await fetch(values['workflow URL'] ?? '', {
      method: 'POST',
      headers: { 'X-API-TOKEN': token },
      body: '{}',
    })
    expect(event.status).toBe(202)

    proc.child.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
    expect(proc.output().stdout).toContain('Received SIGTERM, stopping…\nStopped.\n')
  })

  it('stops on SIGINT too', async () => {
    const proc = run(['--port', '0'])
    await expect.poll(() => proc.output().stdout, { timeout: 20_000 }).toContain('Press Ctrl+C to stop.')
    proc.child.kill('SIGINT')
    expect(await proc.exited).toBe(0)
  })

  it('uses a seed file, a rate limit without Retry-After, and persists to a file', async () => {
    const seedFile = join(folder, 'seed.json')
    const stateFile = join(folder, 'state.json')
    writeFileSync(
      seedFile,
      JSON.stringify({
        datacenter: 'fra1',
        users: [{ token: 'cli-seeded-token-1' }],
        directories: [{ id: 'POOL_cliseed00000001', mailingLists: [{ id: 'CG_cliseed000000001' }] }],
      }),
    )
    const proc = run([
      '--port',
      '0',
      '--seed',
      'seed.json',
      '--persist',
      'state.json',
      '--rate-limit',
      '1',
      '--no-retry-after',
    ])
    await expect.poll(() => proc.output().stdout, { timeout: 20_000 }).toContain('Press Ctrl+C to stop.')
    const values = printed(proc.output().stdout)
    expect(values).toMatchObject({
      token: 'cli-seeded-token-1',
      datacenter: 'fra1',
      'directory id': 'POOL_cliseed00000001',
      'state file': stateFile,
    })
    const base = values['base URL'] ?? ''
    const headers = { 'X-API-TOKEN': 'cli-seeded-token-1', 'Content-Type': 'application/json' }
    expect(
      (
        await fetch(`${base}/API/v3/directories/POOL_cliseed00000001/contacts`, {
          method: 'POST',
          headers,
          body: '{"extRef":"cli"}',
        })
      ).status,
    ).toBe(200)
    const limited = await fetch(`${base}/API/v3/whoami`, { headers })
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBeNull()
    proc.child.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
    const saved = JSON.parse(readFileSync(stateFile, 'utf8'))
    expect(saved.state.contacts.map((c: { extRef: string }) => c.extRef)).toEqual(['cli'])
  })

  it.each([
    [['--port', 'abc'], 'qualtrics-sandbox: --port must be an integer from 0 to 65535 (Received: "abc")'],
    [['--seed', 'missing.json'], 'qualtrics-sandbox: --seed cannot read the file (Received: "missing.json")'],
    [
      ['--persist', 'no/such/folder/state.json'],
      'qualtrics-sandbox: --persist folder does not exist (Received: "no/such/folder/state.json")',
    ],
  ])('exits with 2 and a clear message for %j', async (args, message) => {
    const proc = run(args)
    expect(await proc.exited).toBe(2)
    expect(proc.output().stderr).toBe(`${message}\nRun qualtrics-sandbox --help for usage.\n`)
  })

  it('names the bad keys of an invalid seed file', async () => {
    writeFileSync(join(folder, 'bad-seed.json'), JSON.stringify({ directories: [{ mergeRules: [['zip']] }] }))
    const proc = run(['--seed', 'bad-seed.json'])
    expect(await proc.exited).toBe(2)
    expect(proc.output().stderr).toContain(
      'qualtrics-sandbox: --seed file "bad-seed.json": Invalid seed: seed.directories[0].mergeRules[0][0]: must be one of firstName, lastName, email, phone, extRef (Received: string "zip")',
    )
  })

  it('prints usage with --help', async () => {
    const proc = run(['--help'])
    expect(await proc.exited).toBe(0)
    expect(proc.output().stdout).toContain('Usage: qualtrics-sandbox [options]')
  })
})
