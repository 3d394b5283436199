// Listening: `createSandboxServer` wires a sandbox to a node:http server; `startSandbox` listens and
// resolves with the base URL and ready-to-use ids.

import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SandboxError, describeValue } from './errors'
import type { FaultRules } from './faults'
import type { RateLimitOptions } from './rate-limit'
import { createSandbox, type Sandbox, type SandboxOptions, type SandboxSnapshot } from './sandbox'
import type { SeedInput, SeedResult } from './seed'
import type { BehaviourOptions } from './behaviour'

export interface StartSandboxOptions extends SandboxOptions {
  /** Default 0 (a free port). */
  port?: number
  /** Default `127.0.0.1`. */
  host?: string
}

export interface RunningSandbox {
  /** `http://127.0.0.1:PORT`: the base URL replacing `https://{dc}.qualtrics.com`. */
  readonly url: string
  /** A ready-to-use X-API-TOKEN (the first seeded user's). */
  readonly token: string
  readonly datacenter: string
  readonly brandId: string
  /** The default directory (`POOL_…`). */
  readonly directoryId: string
  /** The first mailing list of that directory (`CG_…`), `''` when it has none. */
  readonly mailingListId: string
  /** `${url}/inbound-event/v1/events/json/triggers?urlTokenId=<uuid>` of the first workflow, `''` when none. */
  readonly workflowUrl: string
  readonly port: number
  readonly server: Server
  readonly sandbox: Sandbox
  setFaults(rules: FaultRules): void
  setRateLimit(limit: RateLimitOptions): void
  setBehaviour(behaviour: BehaviourOptions): void
  seed(seed: SeedInput): SeedResult
  inspect(): SandboxSnapshot
  reset(seed?: SeedInput): void
  close(): Promise<void>
}

export interface SandboxServer {
  server: Server
  sandbox: Sandbox
}

export function createSandboxServer(options: SandboxOptions = {}): SandboxServer {
  const sandbox = createSandbox(options)
  const server = createServer((req, res) => sandbox.handleRequest(req, res))
  return { server, sandbox }
}

function baseUrlOf(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`
}

export async function startSandbox(options: StartSandboxOptions = {}): Promise<RunningSandbox> {
  const { port = 0, host = '127.0.0.1', ...rest } = options
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SandboxError(
      'INVALID_OPTION',
      `Invalid sandbox option: port: must be an integer from 0 to 65535 (Received: ${describeValue(port)})`,
    )
  }
  const { server, sandbox } = createSandboxServer(rest)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const actualPort = (server.address() as AddressInfo).port
  const url = baseUrlOf(host, actualPort)
  let closed: Promise<void> | undefined

  return {
    url,
    port: actualPort,
    server,
    sandbox,
    get token() {
      return sandbox.primary.token
    },
    get datacenter() {
      return sandbox.primary.datacenter
    },
    get brandId() {
      return sandbox.primary.brandId
    },
    get directoryId() {
      return sandbox.primary.directoryId
    },
    get mailingListId() {
      return sandbox.primary.mailingListId
    },
    get workflowUrl() {
      return sandbox.info(url).workflowUrl
    },
    setFaults: (rules) => sandbox.setFaults(rules),
    setRateLimit: (limit) => sandbox.setRateLimit(limit),
    setBehaviour: (behaviour) => sandbox.setBehaviour(behaviour),
    seed: (seed) => sandbox.seed(seed),
    inspect: () => sandbox.inspect(),
    reset: (seed) => sandbox.reset(seed),
    close() {
      closed ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
        await sandbox.close()
        server.closeAllConnections()
        await stopped
      })()
      return closed
    },
  }
}
