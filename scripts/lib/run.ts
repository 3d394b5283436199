// Child processes for the scripts: run a command to completion (its output kept for the error), or
// start a long-running one and wait for a line it prints.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'

export class ScriptError extends Error {
  override readonly name = 'ScriptError'
}

/**
 * The environment for child processes: without what `pnpm run` adds (NODE_PATH points at the workspace's
 * packages, and would let a scratch app resolve what its tarballs forgot to declare; npm_* settings).
 */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(env).filter(([key]) => key !== 'NODE_PATH' && !/^npm_/i.test(key) && !/^PNPM_/.test(key)),
  )
}

export interface RunResult {
  stdout: string
  stderr: string
}

/** Runs `command` and resolves with its output; rejects with the output when it exits non-zero. */
export function run(command: string, args: string[], options: SpawnOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      ...options,
      env: childEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve({ stdout, stderr })
      else {
        const output = `${stdout}\n${stderr}`.trim().split('\n').slice(-40).join('\n')
        reject(new ScriptError(`${command} ${args.join(' ')} exited with ${code}:\n${output}`))
      }
    })
  })
}

export interface Started {
  child: ChildProcess
  /** The first match of `ready` in the output. */
  match: RegExpMatchArray
  /** Everything printed so far (stdout and stderr). */
  output(): string
  stop(): Promise<void>
}

/** Starts a server process and resolves once a line of its output matches `ready`. */
export function start(
  command: string,
  args: string[],
  ready: RegExp,
  options: SpawnOptions & { timeoutMs?: number } = {},
): Promise<Started> {
  const child = spawn(command, args, {
    ...options,
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let text = ''
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once('close', () => resolve())
      child.kill('SIGTERM')
      setTimeout(() => child.kill('SIGKILL'), 5000).unref()
    })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop()
      reject(new ScriptError(`${command} did not print ${ready} in time:\n${text}`))
    }, options.timeoutMs ?? 30_000)
    const onData = (chunk: Buffer) => {
      text += chunk.toString()
      const match = text.match(ready)
      if (match) {
        clearTimeout(timer)
        resolve({ child, match, output: () => text, stop })
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      reject(
        new ScriptError(`${command} ${args.join(' ')} exited with ${code} before it was ready:\n${text}`),
      )
    })
  })
}
