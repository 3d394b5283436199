// Starts bench/sandbox-process.ts: the sandbox in a child process, so that its work is not on the
// proxy's CPU. `options` are sandbox options (JSON), e.g. a rate limit or a bigger request log.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { SandboxOptions } from '@qualtrics-relay/sandbox'

export interface SandboxIds {
  url: string
  token: string
  directoryId: string
  mailingListId: string
  workflowUrl: string
}

export async function startSandboxProcess(
  options: SandboxOptions = {},
): Promise<{ sandbox: SandboxIds; close: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('sandbox-process.ts', import.meta.url))],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, SANDBOX_OPTIONS: JSON.stringify(options) } },
  )
  const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string]
  const exited = once(child, 'exit')
  return {
    sandbox: JSON.parse(line) as SandboxIds,
    close: async () => {
      child.stdin.end()
      await exited
    },
  }
}
