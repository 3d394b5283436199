// /admin/* — for operators only, behind `Authorization: Bearer <RELAY_ADMIN_TOKEN>`. Never CORS.
//   GET  /admin/dead-letters?limit=&after=   list dead letters (paged by id)
//   POST /admin/dead-letters/replay          { ids?: string[] } — replay those, or all when ids is absent
//   GET  /admin/check                        whoami and the directories the token sees
import { describeValue, RelayError } from '@qualtrics-relay/core'
import type { StoredItem } from '@qualtrics-relay/core/server'
import express, { type NextFunction, type Request, type Response } from 'express'
import type { AppContext } from '../context'
import { HttpError } from '../http-error'
import { secretsEqual } from '../security/identity'

/** What the admin API shows of a dead letter. */
export interface DeadLetterView {
  id: string
  messageId: string
  mappingId: string
  action: string
  source?: string
  attempts: number
  createdAt: string
  updatedAt: string
  lastError?: { code: string; message: string; status?: number; at: string }
  payload: unknown
}

export function toDeadLetterView(item: StoredItem): DeadLetterView {
  const view: DeadLetterView = {
    id: item.id,
    messageId: item.messageId,
    mappingId: item.mappingId,
    action: item.action,
    attempts: item.attempts,
    createdAt: new Date(item.createdAt).toISOString(),
    updatedAt: new Date(item.updatedAt).toISOString(),
    payload: item.payload,
  }
  if (item.source !== undefined) view.source = item.source
  if (item.lastError) {
    const { code, message, status, at } = item.lastError
    view.lastError = {
      code,
      message,
      at: new Date(at).toISOString(),
      ...(status === undefined ? {} : { status }),
    }
  }
  return view
}

export function adminRouter(ctx: AppContext): express.Router {
  const router = express.Router()
  const token = ctx.config.adminToken

  router.use((req: Request, _res: Response, next: NextFunction) => {
    if (token === undefined) {
      next(new HttpError('NOT_FOUND', 404, 'The admin API is disabled; set RELAY_ADMIN_TOKEN to enable it'))
      return
    }
    const header = req.get('authorization') ?? ''
    const match = /^Bearer[ ]+(\S+)$/i.exec(header)
    if (!match?.[1] || !secretsEqual(match[1], token)) {
      next(
        new HttpError(
          'UNAUTHORIZED',
          401,
          header === ''
            ? 'The admin API needs Authorization: Bearer <RELAY_ADMIN_TOKEN>'
            : 'The admin token is wrong',
          { headers: { 'WWW-Authenticate': 'Bearer realm="qualtrics-relay admin"' } },
        ),
      )
      return
    }
    next()
  })

  router.get('/dead-letters', async (req, res) => {
    const limitText = req.query.limit
    const limit = limitText === undefined ? 100 : Number(limitText)
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new HttpError(
        'BAD_REQUEST',
        400,
        `limit must be a whole number from 1 to 1000 (Received: ${describeValue(limitText)})`,
      )
    }
    const after = typeof req.query.after === 'string' ? req.query.after : undefined
    const items = await ctx.engine.listDeadLetters(after === undefined ? { limit } : { limit, after })
    const views = items.map(toDeadLetterView)
    const next = items.length === limit ? items[items.length - 1]?.id : undefined
    res.status(200).json({ deadLetters: views, ...(next === undefined ? {} : { next }) })
  })

  router.post('/dead-letters/replay', express.json({ limit: '1mb', strict: true }), async (req, res) => {
    const body: unknown = req.body ?? {}
    const ids = (body as { ids?: unknown }).ids
    if (
      typeof body !== 'object' ||
      body === null ||
      Array.isArray(body) ||
      (ids !== undefined &&
        !(Array.isArray(ids) && ids.length <= 10_000 && ids.every((id) => typeof id === 'string')))
    ) {
      throw new HttpError('PAYLOAD_INVALID', 400, 'The body must be {} (replay all) or { "ids": ["…"] }', {
        issues: [
          { path: 'ids', message: `must be an array of dead-letter ids (Received: ${describeValue(ids)})` },
        ],
      })
    }
    const replayed = await ctx.engine.replayDeadLetters(ids as string[] | undefined)
    res.status(200).json({ replayed })
  })

  router.get('/check', async (_req, res) => {
    let whoami, directories
    try {
      whoami = await ctx.client.whoami()
      directories = await ctx.client.listDirectories()
    } catch (error) {
      // Qualtrics' answer is reported as a bad gateway, not as the status Qualtrics gave us.
      if (error instanceof RelayError) throw new HttpError(error.code, 502, error.message, { cause: error })
      throw error
    }
    res.status(200).json({
      whoami: {
        userName: whoami.userName,
        userId: whoami.userId,
        brandId: whoami.brandId,
        datacenter: whoami.datacenter,
      },
      directories,
    })
  })

  return router
}
