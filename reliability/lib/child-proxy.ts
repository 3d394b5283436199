// The proxy as a real child process, started the way an operator starts it:
//   node --import tsx packages/proxy/src/cli.ts start --config <file>
// with the token and base URL in the environment. Its stdout and stderr go to files (read afterwards,
// e.g. to look for the token), and it can be killed with any signal.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from './relay'
import { sleep } from './stats'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface ChildProxyOptions {
  /** Folder for the config file and the log files. */
  dir: string
  /** The config file's content. It must name a fixed `server.port`. */
  config: Record<string, unknown>
  /** QUALTRICS_API_TOKEN, QUALTRICS_BASE_URL, RELAY_ADMIN_TOKEN, … */
  env: Record<string, string>
  /** Send stdout (the JSON logs) to a pipe read by this process (`child.stdout`) instead of a file. */
  pipeStdout?: boolean
  /** The proxy's open-file limit (`ulimit -n`, set by a shell that then execs node). Default: inherited. */
  openFiles?: number
}

export interface ChildProxy {
  readonly pid: number
  readonly url: string
  readonly startedAt: number
  /** Resolves with the exit code (null after a signal) and the signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves once `/healthz` answers 200; rejects if the process exits first or after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<number>
  kill(signal: NodeJS.Signals): void
  readonly child: ChildProcess
}

/** The environment without anything the proxy reads, plus `extra`. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(QUALTRICS_|RELAY_)/.test(key) && key !== 'PORT' && key !== 'HOST') env[key] = value
  }
  return { ...env, ...extra }
}

let started = 0

export function spawnProxy(options: ChildProxyOptions): ChildProxy {
  const server = options.config.server as { port?: unknown } | undefined
  const port = server?.port
  if (typeof port !== 'number' || port === 0) throw new Error('spawnProxy needs a fixed server.port')
  const configPath = join(options.dir, 'relay.json')
  writeFileSync(configPath, JSON.stringify(options.config, null, 2))
  const n = ++started
  const out = openSync(join(options.dir, `proxy-${n}.out.log`), 'a')
  const err = openSync(join(options.dir, `proxy-${n}.err.log`), 'a')
  const args = ['--import', 'tsx', 'packages/proxy/src/cli.ts', 'start', '--config', configPath]
  const [command, argv] =
    options.openFiles === undefined
      ? [process.execPath, args]
      : ['bash', ['-c', `ulimit -n ${options.openFiles} && exec "$0" "$@"`, process.execPath, ...args]]
  const child = spawn(command, argv, {
    cwd: REPO_ROOT,
    env: cleanEnv(options.env),
    stdio: ['ignore', options.pipeStdout ? 'pipe' : out, err],
  })
  closeSync(out)
  closeSync(err)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  let gone = false
  void exited.then(() => {
    gone = true
  })
  const url = `http://127.0.0.1:${port}`
  const startedAt = Date.now()
  return {
    pid: child.pid ?? -1,
    url,
    startedAt,
    exited,
    child,
    kill: (signal) => {
      if (!gone) child.kill(signal)
    },
    ready: async (timeoutMs = 30_000) => {
      const until = Date.now() + timeoutMs
      for (;;) {
        if (gone) {
          const tail = readFileSync(join(options.dir, `proxy-${n}.err.log`), 'utf8').slice(-2_000)
          throw new Error(`the proxy (pid ${child.pid}) exited before it was ready: ${tail}`)
        }
        try {
          const answer = await request(`${url}/healthz`, {}, 1_000)
          if (answer.status === 200) return Date.now() - startedAt
        } catch {
          // not listening yet
        }
        if (Date.now() > until)
          throw new Error(`the proxy (pid ${child.pid}) was not ready after ${timeoutMs} ms`)
        await sleep(25)
      }
    },
  }
}

/** Everything the children started in `dir` wrote, concatenated. */
export function childLogs(dir: string): string {
  let text = ''
  for (let n = 1; n <= started; n++) {
    for (const stream of ['out', 'err']) {
      try {
        text += readFileSync(join(dir, `proxy-${n}.${stream}.log`), 'utf8')
      } catch {
        // that child was started in another folder
      }
    }
  }
  return text
}
