// The proxy in this process (`startServer`), pointed at a sandbox (or any base URL) as if it were
// Qualtrics, with its log lines kept in memory.
import { parseConfig, startServer, type RunningServer } from '@qualtrics-relay/proxy'
import { ADMIN_TOKEN } from './relay'

export interface InProcessRelay {
  proxy: RunningServer
  url: string
  /** Every log line the proxy wrote. */
  logs: string[]
  close(): Promise<void>
}

export interface InProcessOptions {
  /** The config file's content. */
  config: Record<string, unknown>
  token: string
  baseUrl: string
  /** More environment variables (signing secrets, …). */
  env?: Record<string, string>
  /** Process metrics (memory, event loop) in /metrics. Default false. */
  processMetrics?: boolean
}

export async function startRelay(options: InProcessOptions): Promise<InProcessRelay> {
  const logs: string[] = []
  const env = {
    QUALTRICS_API_TOKEN: options.token,
    QUALTRICS_BASE_URL: options.baseUrl,
    RELAY_ADMIN_TOKEN: ADMIN_TOKEN,
    ...options.env,
  }
  const config = parseConfig(env, JSON.stringify(options.config), 'reliability config')
  const proxy = await startServer(config, {
    logDestination: { write: (line: string) => void logs.push(line) },
    processMetrics: options.processMetrics ?? false,
    closeGraceMs: 2_000,
  })
  return { proxy, url: proxy.url, logs, close: () => proxy.close() }
}
