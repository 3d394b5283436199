// A fleet of proxy processes (child-proxy.ts) on one database behind the loopback balancer: scaled up
// and down the way an orchestrator does it, and SIGKILLed instance by instance. Each instance keeps
// its port across restarts and stays in the balancer's list while it is down — the balancer skips it
// then, as a load balancer whose health check has not noticed yet still tries it and moves on.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Balancer } from '../../test-support/balancer'
import { spawnProxy, type ChildProxy } from './child-proxy'
import { freePort } from './relay'

export interface FleetOptions {
  /** Each instance gets a folder of its own here (config and logs). */
  dir: string
  /** The config file of an instance listening on `port`. */
  config: (port: number) => Record<string, unknown>
  env: Record<string, string>
  balancer: Balancer
}

export interface Instance {
  name: string
  url: string
  /** The process now serving (a new one after each restart). */
  proxy: ChildProxy
  /** Processes started for this instance so far. */
  starts: number
}

export interface Kill {
  instance: string
  /** When the SIGKILL was sent (ms since the epoch). */
  at: number
  msAfterSpawn: number
}

export interface Fleet {
  /** The instances in service (in the balancer's list), oldest first. */
  readonly instances: readonly Instance[]
  readonly kills: readonly Kill[]
  /** For each process started: ms from spawn until /healthz answered. */
  readonly readyMs: readonly number[]
  /** Starts instances side by side (each listed once ready), or takes the newest out of the list and
   * stops them with SIGTERM, to `count`. Resolves with the exit of each instance stopped. */
  scaleTo(count: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }[]>
  /** SIGKILLs the instance, waits `downMs`, starts it again and waits until it is ready. */
  killAndRestart(instance: Instance, downMs: number): Promise<void>
  /** SIGKILLs whatever still runs (for afterAll). */
  destroy(): Promise<void>
}

export function createFleet(options: FleetOptions): Fleet {
  const instances: Instance[] = []
  const kills: Kill[] = []
  const readyMs: number[] = []
  const ports = new Map<string, number>()
  const spawned = new Set<ChildProxy>()
  let created = 0

  async function spawn(name: string): Promise<ChildProxy> {
    const port = ports.get(name) ?? (await freePort())
    ports.set(name, port)
    const dir = join(options.dir, name)
    mkdirSync(dir, { recursive: true })
    const proxy = spawnProxy({ dir, config: options.config(port), env: options.env })
    spawned.add(proxy)
    void proxy.exited.then(() => spawned.delete(proxy))
    readyMs.push(await proxy.ready())
    return proxy
  }

  const list = (): void => options.balancer.setTargets(instances.map((i) => i.url))

  return {
    instances,
    kills,
    readyMs,
    async scaleTo(count) {
      const exits = []
      // New instances start side by side, and are listed once each is ready.
      const names: string[] = []
      while (instances.length + names.length < count) names.push(`p${++created}`)
      await Promise.all(
        names.map(async (name) => {
          const proxy = await spawn(name)
          instances.push({ name, url: proxy.url, proxy, starts: 1 })
          list()
        }),
      )
      while (instances.length > count) {
        const instance = instances.pop() as Instance
        list()
        instance.proxy.kill('SIGTERM')
        exits.push(await instance.proxy.exited)
      }
      return exits
    },
    async killAndRestart(instance, downMs) {
      const at = Date.now()
      instance.proxy.kill('SIGKILL')
      await instance.proxy.exited
      kills.push({ instance: instance.name, at, msAfterSpawn: at - instance.proxy.startedAt })
      await new Promise((resolve) => setTimeout(resolve, downMs))
      instance.proxy = await spawn(instance.name)
      instance.starts++
    },
    async destroy() {
      instances.splice(0)
      const left = [...spawned]
      for (const proxy of left) proxy.kill('SIGKILL')
      await Promise.all(left.map((p) => p.exited))
    },
  }
}
