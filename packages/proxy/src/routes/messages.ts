// GET /v1/messages/:messageId?writeKey=… — where each mapping of one event stands in delivery.
import { describeValue, type MessageStatus } from '@qualtrics-relay/core'
import type { Request, Response } from 'express'
import type { AppContext } from '../context'
import { HttpError } from '../http-error'

export function messageRoute(ctx: AppContext) {
  return async (req: Request, res: Response): Promise<void> => {
    const wk = ctx.writeKeyFromQuery(req)
    ctx.cors.checkOrigin(req, res, wk)
    ctx.limitWriteKey(res, wk)
    const messageId = String(req.params.messageId)
    if (messageId.length > 256) {
      throw new HttpError(
        'BAD_REQUEST',
        400,
        `messageId must be at most 256 characters (Received: ${messageId.length})`,
      )
    }
    // Only what this write key sent: its name is the items' source (and part of their ids).
    const items = await ctx.engine.status(messageId, wk.name)
    if (items.length === 0) {
      throw new HttpError(
        'NOT_FOUND',
        404,
        `No message ${describeValue(messageId, 80)} was accepted for this write key`,
      )
    }
    const status: MessageStatus = {
      messageId,
      items: items.map((item) => {
        const view: MessageStatus['items'][number] = {
          mapping: item.mappingId,
          action: item.action,
          state: item.state === 'leased' ? 'pending' : item.state,
          attempts: item.attempts,
        }
        if (item.lastError) view.lastError = `${item.lastError.code}: ${item.lastError.message}`
        if (item.deliveredAt !== undefined) view.deliveredAt = new Date(item.deliveredAt).toISOString()
        return view
      }),
    }
    res.setHeader('Cache-Control', 'no-store')
    res.status(200).json(status)
  }
}
