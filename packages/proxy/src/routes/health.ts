// GET /healthz (the process answers), GET /readyz (the proxy can accept items durably), GET /metrics
// (Prometheus).
//
// Readiness is about accepting, not delivering: while Qualtrics is down the queue is exactly what should
// take the events, so Qualtrics' state is reported in the body (and in metrics) but never makes the
// proxy "not ready". Not ready = the store does not answer, or its files were deleted, replaced or made
// read-only under the running proxy (storage-guard.ts).
import { RelayError } from '@qualtrics-relay/core'
import type { Request, Response } from 'express'
import type { AppContext } from '../context'

type Check = { ok: true } | { ok: false; code: string; message: string }

export function healthRoute() {
  return (_req: Request, res: Response): void => {
    res.setHeader('Cache-Control', 'no-store')
    res.status(200).json({ status: 'ok' })
  }
}

/** whoami is cached (success for `readiness.cacheMs`, failure for a fifth of it) so probes stay cheap. */
export function readyRoute(ctx: AppContext) {
  let cached: { check: Check; until: number } | undefined
  let pending: Promise<Check> | undefined

  async function qualtrics(): Promise<Check> {
    const now = ctx.now()
    if (cached && cached.until > now) return cached.check
    if (pending) return pending
    const check = ctx.client
      .whoami()
      .then(
        (): Check => ({ ok: true }),
        (error: unknown): Check => ({
          ok: false,
          code: error instanceof RelayError ? error.code : 'INTERNAL_ERROR',
          message: error instanceof RelayError ? error.message : 'The token check failed',
        }),
      )
      .then((check: Check) => {
        const ttl = check.ok ? ctx.config.readiness.cacheMs : Math.ceil(ctx.config.readiness.cacheMs / 5)
        cached = { check, until: ctx.now() + ttl }
        return check
      })
      .finally(() => {
        pending = undefined
      })
    pending = check
    return check
  }

  async function storage(): Promise<Check> {
    try {
      if (ctx.store.ping) await ctx.store.ping()
      else await ctx.store.counts()
      return { ok: true }
    } catch (error) {
      return {
        ok: false,
        code: error instanceof RelayError ? error.code : 'STORAGE_ERROR',
        message: 'The delivery store does not answer',
      }
    }
  }

  /** The delivery engine's view of Qualtrics, for people (the status code does not depend on it). */
  async function circuit(): Promise<Record<string, unknown> | undefined> {
    try {
      const c = await ctx.engine.circuitState()
      return {
        state: c.state,
        ...(c.openedAt === undefined ? {} : { openedAt: new Date(c.openedAt).toISOString() }),
        ...(c.nextProbeAt === undefined ? {} : { nextProbeAt: new Date(c.nextProbeAt).toISOString() }),
        failedProbes: c.failedProbes,
      }
    } catch {
      return undefined
    }
  }

  return async (_req: Request, res: Response): Promise<void> => {
    const files = ctx.storageGuard.check()
    const [answers, token, qualtricsCircuit] = await Promise.all([storage(), qualtrics(), circuit()])
    const store = files.ok ? answers : files
    const ready = store.ok
    res.setHeader('Cache-Control', 'no-store')
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'not ready',
      mode: ctx.config.qualtrics.mode,
      checks: { storage: store },
      // Qualtrics' state: informative only (see the top): the token check and the engine's circuit.
      qualtrics: token,
      ...(qualtricsCircuit === undefined ? {} : { qualtricsCircuit }),
    })
  }
}

export function metricsRoute(ctx: AppContext) {
  return async (_req: Request, res: Response): Promise<void> => {
    const text = await ctx.metrics.registry.metrics()
    res.setHeader('Cache-Control', 'no-store')
    res.status(200).type(ctx.metrics.registry.contentType).send(text)
  }
}
