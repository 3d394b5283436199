// The real executable: `qualtrics-relay-proxy --sandbox` with no configuration file starts in sandbox mode,
// delivers, and stops cleanly on SIGTERM; a bad configuration exits 1 with every problem listed and no secret.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { delivered, messageId, request, waitFor } from './helpers'

const BIN = fileURLToPath(new URL('../bin/qualtrics-relay-proxy.js', import.meta.url))

interface Spawned {
  child: ChildProcess
  stdout: string[]
  stderr: string[]
  exited: Promise<number | null>
}

let running: Spawned | undefined
afterEach(() => {
  if (running && running.child.exitCode === null) running.child.kill('SIGKILL')
  running = undefined
})

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(QUALTRICS_|RELAY_)/.test(key) && key !== 'PORT' && key !== 'HOST') env[key] = value
  }
  return { ...env, ...extra }
}

function run(args: string[], env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stdout: string[] = []
  const stderr: string[] = []
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => stdout.push(chunk))
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, stdout, stderr, exited }
}

describe('qualtrics-relay-proxy', () => {
  it('starts in sandbox mode when asked, without configuration, delivers, and shuts down on SIGTERM', async () => {
    running = run(['--sandbox'], { PORT: '0' })
    const proc = running
    const url = await waitFor(() => /listening on (http:\/\/[^\s,]+)/.exec(proc.stderr.join(''))?.[1], 20_000)
    expect(proc.stderr.join('')).toContain(', mode sandbox')
    expect((await request(`${url}/readyz`)).json).toMatchObject({ status: 'ready', mode: 'sandbox' })

    const id = messageId()
    const answer = await request(`${url}/v1/batch`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', Origin: 'http://localhost:5173' },
      body: JSON.stringify({
        writeKey: 'wk_demo',
        items: [
          {
            messageId: id,
            mapping: 'demo-feedback',
            action: 'triggerXflowWorkflow',
            payload: {
              workflowUrl: (
                (await request(`${url}/v1/settings?writeKey=wk_demo`)).json as {
                  mappings: { id: string; fields: { workflowUrl?: string } }[]
                }
              ).mappings.find((m) => m.id === 'demo-feedback')?.fields.workflowUrl,
              eventPayload: { event: 'Feedback Requested' },
            },
          },
        ],
      }),
    })
    expect(answer.status).toBe(202)
    await delivered(url, id, 'wk_demo')

    proc.child.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
    const lines = proc.stdout
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; mode?: string })
    expect(lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['proxy listening', 'signal received; stopping', 'stopped']),
    )
    expect(lines.find((l) => l.msg === 'proxy listening')?.mode).toBe('sandbox')
  })

  it('exits 1 listing every configuration problem, without the token', async () => {
    const token = 'secret-token-that-must-not-print-1234'
    running = run(['start'], { QUALTRICS_API_TOKEN: token, QUALTRICS_DATACENTER: 'Not A DC' })
    expect(await running.exited).toBe(1)
    const stderr = running.stderr.join('')
    expect(stderr).toContain('(file): is required: give one with --config <path>')
    expect(stderr).toContain('env.QUALTRICS_DATACENTER: must look like "iad1"')
    expect(stderr + running.stdout.join('')).not.toContain(token)
  })

  it('does not start in sandbox mode when the token is forgotten: exits 1 naming what is missing', async () => {
    running = run(['start'], { QUALTRICS_DATACENTER: 'iad1' })
    expect(await running.exited).toBe(1)
    const stderr = running.stderr.join('')
    expect(stderr).toContain('env.QUALTRICS_API_TOKEN: is required in mode "qualtrics" (the default)')
    expect(stderr).toContain('start with --sandbox')
    expect(stderr).not.toContain('listening')
  })

  it('exits 2 on an unknown flag', async () => {
    running = run(['start', '--port', '1'], {})
    expect(await running.exited).toBe(2)
    expect(running.stderr.join('')).toContain("Unknown option '--port'")
  })
})
