// The proxy instances of `pnpm start:cluster`: real processes (the proxy's CLI, as an operator starts
// it, through reliability/lib/child-proxy.ts), each on a port of its own and the one database. Kill one
// with SIGKILL, start it again, and read each one's request rate to Qualtrics from its /metrics.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { childLogs, spawnProxy, type ChildProxy } from '../../../../reliability/lib/child-proxy'
import { readMetrics } from '../../../../reliability/lib/relay'
import { freeLoopbackPort } from '../../../../test-support/free-port'
import { readBudgetReport, type BudgetReport } from './bucket'
import { ClusterError } from './errors'
import { createRateWindow, type RateWindow } from './rate-window'

export type InstanceState = 'starting' | 'up' | 'killed' | 'exited'

export interface InstanceView {
  /** `proxy-1`, `proxy-2`, … */
  id: string
  url: string
  state: InstanceState
  /** The running process; null while down. */
  pid: number | null
  /** When the state last changed (ms since the epoch). */
  since: number
  /** Requests to Qualtrics (here the sandbox) per second over the last 5 s, from its /metrics. */
  qualtricsPerSecond: number
  /** Requests to Qualtrics over all its runs. */
  qualtricsRequests: number
  /** Items it delivered over all its runs. */
  itemsDelivered: number
  /** Requests the balancer handed to it per second over the last 5 s. */
  requestsInPerSecond: number
  /** How it ended when nobody killed it: exit code or signal, and the end of its log. */
  exit?: string
}

export interface FleetOptions {
  count: number
  /** A folder for each instance's config file and logs. */
  dir: string
  /** The config file of the instance that listens on `port`; asked at each start of it. */
  configFor(port: number): Record<string, unknown>
  /** The instances' environment (token, base URL, DATABASE_URL, …); nothing else of ours is passed on. */
  env: Record<string, string>
  /** Each line an instance writes to stdout (its JSON log). */
  onOutput?(id: string, line: string): void
  /** Requests the balancer has handed to each target so far, by origin. */
  balancerRequests(): Record<string, number>
}

export interface Fleet {
  readonly urls: readonly string[]
  /** Starts every instance; resolves once all answer /healthz. */
  start(): Promise<void>
  view(): InstanceView[]
  /** The shared rate budget as an instance that is up last reported it (its /metrics); undefined before. */
  budget(): BudgetReport | undefined
  /** SIGKILL, as a crash or the OOM killer would; resolves once the process is gone. */
  kill(id: string): Promise<InstanceView>
  /** Starts a killed or exited instance again on its port; resolves at once (state `starting`). */
  restart(id: string): Promise<InstanceView>
  /** SIGTERM to every instance (each hands its leases back), SIGKILL after 15 s. */
  close(): Promise<void>
}

/** A counter of an instance that starts from 0 on each run, added up over its runs. */
interface RunCounter {
  before: number
  now: number
  rate: RateWindow
}

interface Instance {
  id: string
  url: string
  port: number
  dir: string
  proxy?: ChildProxy
  state: InstanceState
  since: number
  killing: boolean
  exit?: string
  qualtrics: RunCounter
  delivered: RunCounter
  requestsIn: RateWindow
}

const SAMPLE_MS = 1_000
const STOP_GRACE_MS = 15_000

const counter = (): RunCounter => ({ before: 0, now: 0, rate: createRateWindow() })

function sumOf(metrics: Map<string, number>, name: string): number {
  let sum = 0
  for (const [key, value] of metrics) if (key === name || key.startsWith(`${name}{`)) sum += value
  return sum
}

export async function createFleet(options: FleetOptions): Promise<Fleet> {
  const instances: Instance[] = []
  for (let n = 1; n <= options.count; n++) {
    const port = await freeLoopbackPort()
    const dir = join(options.dir, `proxy-${n}`)
    mkdirSync(dir, { recursive: true })
    instances.push({
      id: `proxy-${n}`,
      url: `http://127.0.0.1:${port}`,
      port,
      dir,
      state: 'starting',
      since: Date.now(),
      killing: false,
      qualtrics: counter(),
      delivered: counter(),
      requestsIn: createRateWindow(),
    })
  }
  let closing = false
  let budget: BudgetReport | undefined
  // Whatever ends this process, no instance outlives it.
  const killAll = () => {
    for (const instance of instances) instance.proxy?.kill('SIGKILL')
  }
  process.on('exit', killAll)

  const setState = (instance: Instance, state: InstanceState) => {
    instance.state = state
    instance.since = Date.now()
  }

  function spawn(instance: Instance): ChildProxy {
    for (const c of [instance.qualtrics, instance.delivered]) {
      c.before += c.now
      c.now = 0
      c.rate.clear()
    }
    instance.killing = false
    delete instance.exit
    const proxy = spawnProxy({
      dir: instance.dir,
      config: options.configFor(instance.port),
      env: options.env,
      pipeStdout: true,
    })
    instance.proxy = proxy
    setState(instance, 'starting')
    // Always read the pipe: a full one would stop the instance at its next log line.
    if (proxy.child.stdout) {
      createInterface({ input: proxy.child.stdout }).on('line', (line) => {
        if (!closing) options.onOutput?.(instance.id, line)
      })
    }
    void proxy.exited.then(({ code, signal }) => {
      if (instance.proxy !== proxy) return
      if (instance.killing) {
        setState(instance, 'killed')
        return
      }
      setState(instance, 'exited')
      if (!closing) {
        const ended = signal ? `signal ${signal}` : `exit code ${code}`
        instance.exit = `${ended}: ${childLogs(instance.dir).trim().split('\n').slice(-5).join('\n')}`
      }
    })
    return proxy
  }

  function find(id: string): Instance {
    const instance = instances.find((i) => i.id === id)
    if (instance === undefined) {
      throw new ClusterError(
        'UNKNOWN_INSTANCE',
        404,
        `instance must be one of ${instances.map((i) => i.id).join(', ')} (Received: ${JSON.stringify(id)})`,
      )
    }
    return instance
  }

  const view = (i: Instance): InstanceView => ({
    id: i.id,
    url: i.url,
    state: i.state,
    pid: i.state === 'starting' || i.state === 'up' ? (i.proxy?.pid ?? null) : null,
    since: i.since,
    qualtricsPerSecond: i.qualtrics.rate.perSecond(),
    qualtricsRequests: i.qualtrics.before + i.qualtrics.now,
    itemsDelivered: i.delivered.before + i.delivered.now,
    requestsInPerSecond: i.requestsIn.perSecond(),
    ...(i.exit === undefined ? {} : { exit: i.exit }),
  })

  async function sample(): Promise<void> {
    const at = Date.now()
    const handed = options.balancerRequests()
    await Promise.all(
      instances.map(async (instance) => {
        instance.requestsIn.add(at, handed[instance.url] ?? 0)
        if (instance.state !== 'up') {
          // Down, it sends nothing: its rates fall to 0 over the window instead of keeping their last value.
          for (const c of [instance.qualtrics, instance.delivered]) c.rate.add(at, c.before + c.now)
          return
        }
        try {
          const metrics = await readMetrics(instance.url)
          for (const [c, name] of [
            [instance.qualtrics, 'relay_qualtrics_requests_total'],
            [instance.delivered, 'relay_items_delivered_total'],
          ] as const) {
            c.now = sumOf(metrics, name)
            c.rate.add(at, c.before + c.now)
          }
          budget = readBudgetReport(metrics, instance.id) ?? budget
        } catch {
          // killed between the state check and the request: the next sample sees it down
        }
      }),
    )
  }
  let sampling: ReturnType<typeof setTimeout> | undefined
  const loop = () => {
    sampling = setTimeout(() => void sample().finally(() => !closing && loop()), SAMPLE_MS)
  }

  async function startOne(instance: Instance): Promise<void> {
    const proxy = spawn(instance)
    await proxy.ready(60_000)
    if (instance.proxy === proxy && instance.state === 'starting') setState(instance, 'up')
  }

  return {
    urls: instances.map((i) => i.url),
    async start() {
      await Promise.all(instances.map(startOne))
      loop()
    },
    view: () => instances.map(view),
    budget: () => budget,
    async kill(id) {
      const instance = find(id)
      const proxy = instance.proxy
      if (proxy === undefined || instance.state === 'killed' || instance.state === 'exited') {
        throw new ClusterError('ALREADY_DOWN', 409, `${id} is not running (state ${instance.state})`)
      }
      instance.killing = true
      proxy.kill('SIGKILL')
      await proxy.exited
      return view(instance)
    },
    async restart(id) {
      const instance = find(id)
      if (instance.state === 'starting' || instance.state === 'up') {
        throw new ClusterError('ALREADY_RUNNING', 409, `${id} is running (state ${instance.state})`)
      }
      startOne(instance).catch((error: unknown) => {
        instance.exit = error instanceof Error ? error.message : String(error)
      })
      return view(instance)
    },
    async close() {
      closing = true
      clearTimeout(sampling)
      await Promise.all(
        instances.map(async (instance) => {
          const proxy = instance.proxy
          if (proxy === undefined || instance.state === 'killed' || instance.state === 'exited') return
          proxy.kill('SIGTERM')
          let timer: ReturnType<typeof setTimeout> | undefined
          const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)))
          await Promise.race([proxy.exited, late])
          clearTimeout(timer)
          proxy.kill('SIGKILL')
          await proxy.exited
        }),
      )
      process.removeListener('exit', killAll)
    },
  }
}
