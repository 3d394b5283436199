// A process that tracks events and ends right after `closeAndFlush()` still delivers all of them, and
// ends by itself: the plugin neither loses what it accepted nor keeps the process alive for nothing.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'

const SCRIPT = fileURLToPath(new URL('./fixtures/short-lived.ts', import.meta.url))
const EVENTS = 30

let sandbox: RunningSandbox
beforeAll(async () => {
  sandbox = await startSandbox()
})
afterAll(async () => {
  await sandbox.close()
})
beforeEach(() => {
  sandbox.reset()
})

function runScript(shutdown: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: {
        ...process.env,
        SHUTDOWN: shutdown,
        EVENTS: String(EVENTS),
        QUALTRICS_TOKEN: sandbox.token,
        QUALTRICS_URL: sandbox.url,
        DIRECTORY_ID: sandbox.directoryId,
        MAILING_LIST_ID: sandbox.mailingListId,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    // A process that does not end by itself is a failure, not a hang of the test run.
    const guard = setTimeout(() => child.kill('SIGKILL'), 25_000)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(guard)
      resolve({ code, stdout, stderr })
    })
  })
}

describe('a short-lived process', () => {
  it.each([
    ['ends by itself after closeAndFlush, having delivered everything', 'natural'],
    ['exits at once after closeAndFlush with waitForDelivery, having delivered everything', 'exit'],
    ['exits at once after closeAndFlush and plugin.close(), having delivered everything', 'flush'],
  ])(
    '%s',
    async (_name, shutdown) => {
      const { code, stdout, stderr } = await runScript(shutdown)
      expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: 'closed\n', stderr: '' })

      const snapshot = sandbox.inspect()
      expect(snapshot.transactions.map((t) => t.data.n).sort((a, b) => Number(a) - Number(b))).toEqual([
        ...Array(EVENTS).keys(),
      ])
      expect(Object.values(snapshot.transactionKeyCounts).every((n) => n === 1)).toBe(true)
    },
    30_000,
  )
})
