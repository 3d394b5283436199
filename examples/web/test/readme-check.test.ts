// The README's step 2 ("Ids") works as printed: its command, run from the repository root, against a
// sandbox standing in for the Qualtrics account (QUALTRICS_BASE_URL overrides the datacenter's host).
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startSandbox } from '@qualtrics-relay/sandbox'
import { expect, it } from 'vitest'
import { SITE_ROOT } from '../scripts/vite-options'

const REPO_ROOT = join(SITE_ROOT, '..', '..')

/** The shell command of step 2's code block, its line continuations joined. */
function stepTwoCommand(): string {
  const readme = readFileSync(join(SITE_ROOT, 'README.md'), 'utf8')
  const step = readme.slice(readme.indexOf('2. **Ids.**'), readme.indexOf('3. **Configuration.**'))
  const block = /```sh\n([\s\S]*?)```/.exec(step)?.[1]
  if (block === undefined) throw new TypeError('the README has no step 2 with a sh code block')
  return block.replace(/\\\n\s*/g, ' ').trim()
}

it('lists the directories with the command of README step 2', async () => {
  const command = stepTwoCommand()
  // The variables it sets are the user's to fill in: the test gives the sandbox's instead.
  const assignments = /^(?:[A-Z_]+=\S+\s+)+/.exec(command)?.[0] ?? ''
  expect(assignments).toMatch(/QUALTRICS_API_TOKEN=.*QUALTRICS_DATACENTER=/)
  const sandbox = await startSandbox({ port: 0, host: '127.0.0.1' })
  try {
    const env: NodeJS.ProcessEnv = {}
    for (const [key, value] of Object.entries(process.env)) {
      if (!/^(QUALTRICS_|RELAY_)/.test(key)) env[key] = value
    }
    const { stdout } = await promisify(execFile)('sh', ['-c', command.slice(assignments.length)], {
      cwd: REPO_ROOT,
      env: {
        ...env,
        QUALTRICS_API_TOKEN: sandbox.token,
        QUALTRICS_DATACENTER: 'iad1',
        QUALTRICS_BASE_URL: sandbox.url,
      },
    })
    expect(stdout).toContain('token ok')
    expect(stdout).toContain(sandbox.directoryId)
  } finally {
    await sandbox.close()
  }
})
