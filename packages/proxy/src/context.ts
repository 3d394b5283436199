// What every route shares: the validated config, the collaborators, and a few small helpers.
import { describeValue } from '@qualtrics-relay/core'
import type { DeliveryStore, QualtricsApi } from '@qualtrics-relay/core/server'
import type { Request, Response } from 'express'
import type { ProxyConfig, WriteKeyConfig } from './config'
import type { RelayEngine } from './engine'
import { HttpError } from './http-error'
import type { Logger } from './logger'
import type { ProxyMetrics } from './metrics'
import type { Cors } from './security/cors'
import type { StorageGuard } from './storage-guard'
import { createRateLimiter, type RateLimiter } from './security/rate-limit'

/** What `createApp` needs. Everything is built and validated by the caller (see server.ts). */
export interface AppDeps {
  /** The validated config, with sandbox placeholders already replaced. */
  config: ProxyConfig
  engine: RelayEngine
  client: QualtricsApi
  /** `ping`, when the store has it (PostgreSQL), answers readiness probes without counting rows. */
  store: Pick<DeliveryStore, 'counts'> & { ping?(): Promise<void> }
  logger: Logger
  metrics: ProxyMetrics
  /** Origins besides https://*.qualtrics.com that workflow URLs may use (the sandbox). Default none. */
  workflowOrigins?: readonly string[]
  /** Epoch ms. Default `Date.now`. */
  now?: () => number
  /** Watches the database files (see storage-guard.ts). Default: nothing to watch. */
  storageGuard?: StorageGuard
}

export interface AppContext extends Required<Omit<AppDeps, 'now'>> {
  now: () => number
  cors: Cors
  /** The write key named by `?writeKey=`, or a 400/401. */
  writeKeyFromQuery(req: Request): WriteKeyConfig
  /** The write key named in a body, or a 400/401. */
  writeKeyNamed(value: unknown, where: string): WriteKeyConfig
  /** Takes a token from the write key's bucket or throws 429. */
  limitWriteKey(res: Response, writeKey: WriteKeyConfig): void
  /** Takes a token from the client IP's bucket or throws 429. */
  limitIp(req: Request, res: Response): void
}

export function createContext(deps: AppDeps, cors: Cors): AppContext {
  const now = deps.now ?? Date.now
  const { config } = deps
  const ipLimiter = config.rateLimits.perIp ? createRateLimiter(config.rateLimits.perIp) : undefined
  const keyLimiter = config.rateLimits.perWriteKey
    ? createRateLimiter(config.rateLimits.perWriteKey)
    : undefined

  function writeKeyNamed(value: unknown, where: string): WriteKeyConfig {
    if (typeof value !== 'string' || value === '') {
      throw new HttpError(
        'BAD_REQUEST',
        400,
        `A write key is required in ${where} (Received: ${describeValue(value)})`,
        {
          issues: [{ path: where, message: `is required (Received: ${describeValue(value)})` }],
        },
      )
    }
    const wk = config.writeKeys.get(value)
    if (wk === undefined) {
      throw new HttpError(
        'UNKNOWN_WRITE_KEY',
        401,
        `Unknown write key (Received: ${describeValue(value, 40)}); check the plugin's writeKey against the proxy's writeKeys`,
      )
    }
    return wk
  }

  function limited(limiter: RateLimiter | undefined, key: string, what: string): void {
    if (limiter === undefined) return
    const waitMs = limiter.take(key, now())
    if (waitMs === 0) return
    const seconds = Math.max(1, Math.ceil(waitMs / 1000))
    throw new HttpError('RATE_LIMITED', 429, `Too many requests ${what}; retry after ${seconds} s`, {
      headers: { 'Retry-After': String(seconds) },
    })
  }

  return {
    ...deps,
    workflowOrigins: deps.workflowOrigins ?? [],
    storageGuard: deps.storageGuard ?? { check: () => ({ ok: true }) },
    now,
    cors,
    writeKeyFromQuery: (req) => writeKeyNamed(req.query.writeKey, 'the writeKey query parameter'),
    writeKeyNamed,
    limitWriteKey: (_res, wk) => limited(keyLimiter, wk.key, 'for this write key'),
    limitIp: (req) => limited(ipLimiter, req.ip ?? 'unknown', 'from this address'),
  }
}
