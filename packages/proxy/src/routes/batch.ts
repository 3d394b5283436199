// POST /v1/batch — mapped payloads from a plugin. Every item is checked on its own (shape, mapping,
// signed identity, payload, allowlists); the accepted ones are handed to the delivery engine, and the
// answer (202, one result per item) is sent only once the engine has stored them durably.
//
// Status rule: 202 whenever at least one item is accepted or a duplicate. When every item is refused,
// the batch as a whole is refused: 403 if every refusal is an authorization refusal (allowlist,
// identity), otherwise 400; the error lists each item's problems as issues (`items.<n>.<field>`).
import {
  ACTIONS,
  checkPayload,
  describeValue,
  type ActionKey,
  type BatchResponse,
  type DeliveryItem,
  type FieldIssue,
  type ItemResult,
} from '@qualtrics-relay/core'
import { isWellFormed } from '@qualtrics-relay/core/server'
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express'
import * as v from 'valibot'
import type { WriteKeyConfig } from '../config'
import type { AppContext } from '../context'
import { HttpError } from '../http-error'
import { isCanonicalUserId, isValidSignature } from '../security/identity'

/** How contacts of signed items may be found: by the signed extRef only. */
const SIGNED_LOOKUP: DeliveryItem['lookupBy'] = ['extRef']

type ItemCode = 'PAYLOAD_INVALID' | 'UNKNOWN_MAPPING' | 'FORBIDDEN' | 'IDENTITY_INVALID'
const AUTHORIZATION_CODES = new Set<ItemCode>(['FORBIDDEN', 'IDENTITY_INVALID'])

interface Refusal {
  code: ItemCode
  message: string
  issues: FieldIssue[]
}

const text = (what: string, max: number) =>
  v.pipe(
    v.string(`must be ${what}`),
    v.minLength(1, `must be ${what}`),
    v.maxLength(max, `must be at most ${max} characters`),
  )

const ItemSchema = v.object(
  {
    // A lone surrogate would reach the store and Qualtrics as U+FFFD and collide with that spelling.
    messageId: v.pipe(
      text('a non-empty string', 256),
      v.check(isWellFormed, 'must be well-formed Unicode: it holds a lone surrogate'),
    ),
    mapping: text('a mapping id', 64),
    action: v.picklist(
      Object.keys(ACTIONS) as ActionKey[],
      `must be one of ${Object.keys(ACTIONS).join(', ')}`,
    ),
    payload: v.record(v.string(), v.unknown(), 'must be an object'),
    identity: v.optional(
      v.object(
        {
          userId: text('a non-empty string', 1024),
          signature: v.pipe(
            v.string('must be a hex string'),
            v.regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters'),
          ),
        },
        'must be an object { userId, signature }',
      ),
    ),
  },
  'must be an object { messageId, mapping, action, payload }',
)

type Item = v.InferOutput<typeof ItemSchema>

const CONTENT_TYPES = new Set(['application/json', 'text/plain'])

/** Refuses anything but JSON (or text/plain, as sendBeacon sends it) before reading the body. */
export function requireJsonBody(req: Request, _res: Response, next: NextFunction): void {
  const header = req.get('content-type')
  const type = header?.split(';')[0]?.trim().toLowerCase()
  if (type === undefined || type === '' || !CONTENT_TYPES.has(type)) {
    next(
      new HttpError(
        'UNSUPPORTED_MEDIA_TYPE',
        415,
        `The body must be JSON sent as application/json or text/plain (Received: ${describeValue(header ?? 'no Content-Type', 60)})`,
      ),
    )
    return
  }
  next()
}

/** The handlers of `POST /v1/batch`, in order (typed: an inferred type would name connect's types). */
export function batchRoutes(ctx: AppContext): readonly [RequestHandler, RequestHandler, RequestHandler] {
  const readText = express.text({
    type: () => true,
    limit: ctx.config.server.maxBodyBytes,
    defaultCharset: 'utf-8',
  })
  const maxItems = ctx.config.server.maxBatchItems

  async function handle(req: Request, res: Response): Promise<void> {
    let body: unknown
    try {
      body = JSON.parse(typeof req.body === 'string' ? req.body : '')
    } catch {
      throw new HttpError('MALFORMED_JSON', 400, 'The body is not valid JSON')
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HttpError(
        'PAYLOAD_INVALID',
        400,
        `The body must be an object { writeKey, items } (Received: ${describeValue(body)})`,
      )
    }
    const batch = body as Record<string, unknown>
    const queryKey = typeof req.query.writeKey === 'string' ? req.query.writeKey : undefined
    const wk = ctx.writeKeyNamed(batch.writeKey ?? queryKey, 'writeKey')
    if (queryKey !== undefined && batch.writeKey !== undefined && queryKey !== batch.writeKey) {
      throw new HttpError(
        'BAD_REQUEST',
        400,
        'The writeKey query parameter and the body name different write keys',
      )
    }
    ctx.cors.checkOrigin(req, res, wk)
    ctx.limitWriteKey(res, wk)

    const envelopeIssues: FieldIssue[] = []
    if (batch.sentAt !== undefined && typeof batch.sentAt !== 'string') {
      envelopeIssues.push({
        path: 'sentAt',
        message: `must be a string (Received: ${describeValue(batch.sentAt)})`,
      })
    }
    if (!Array.isArray(batch.items)) {
      envelopeIssues.push({
        path: 'items',
        message: `must be an array of items (Received: ${describeValue(batch.items)})`,
      })
    } else if (batch.items.length === 0 || batch.items.length > maxItems) {
      envelopeIssues.push({
        path: 'items',
        message: `must hold 1 to ${maxItems} items (Received: ${batch.items.length} items)`,
      })
    }
    if (envelopeIssues.length > 0) {
      throw new HttpError('PAYLOAD_INVALID', 400, 'Invalid batch', { issues: envelopeIssues })
    }

    const rawItems = batch.items as unknown[]
    const results: ItemResult[] = new Array<ItemResult>(rawItems.length)
    const accepted: { index: number; item: DeliveryItem }[] = []
    const refusals: { index: number; refusal: Refusal }[] = []
    rawItems.forEach((raw, index) => {
      const outcome = checkItem(raw, wk)
      if ('refusal' in outcome) {
        const { refusal } = outcome
        refusals.push({ index, refusal })
        const ids = raw as Partial<Record<'messageId' | 'mapping', unknown>> | null
        results[index] = {
          messageId: typeof ids?.messageId === 'string' ? ids.messageId : '',
          mapping: typeof ids?.mapping === 'string' ? ids.mapping : '',
          status: 'rejected',
          error: { code: refusal.code, message: refusal.message },
        }
        ctx.metrics.rejected.inc({ write_key: wk.name, code: refusal.code })
      } else accepted.push({ index, item: outcome.item })
    })

    if (accepted.length === 0) throw refuseAll(refusals)

    // Database files deleted or replaced under the proxy: storing now would only look durable.
    const files = ctx.storageGuard.check(STORAGE_CHECK_MAX_AGE_MS)
    if (!files.ok)
      throw new HttpError('STORAGE_ERROR', 503, files.message, { headers: { 'Retry-After': '30' } })

    const stored = await ctx.engine.enqueue(accepted.map((a) => a.item))
    // Counted per action and status, one increment each (a labelled increment hashes its labels).
    const tally = new Map<string, { duplicate: boolean; action: string; n: number }>()
    accepted.forEach(({ index, item }, i) => {
      const status = stored[i]?.status === 'duplicate' ? 'duplicate' : 'accepted'
      results[index] = { messageId: item.messageId, mapping: item.mappingId, status }
      const key = `${status}\u0000${item.action}`
      const entry = tally.get(key)
      if (entry === undefined)
        tally.set(key, { duplicate: status === 'duplicate', action: item.action, n: 1 })
      else entry.n++
    })
    for (const { duplicate, action, n } of tally.values()) {
      const counter = duplicate ? ctx.metrics.duplicate : ctx.metrics.accepted
      counter.inc({ write_key: wk.name, action }, n)
    }
    const answer: BatchResponse = { results }
    res.status(202).json(answer)
  }

  /** Checks one item against the write key; returns the normalised item or why it is refused. */
  function checkItem(raw: unknown, wk: WriteKeyConfig): { item: DeliveryItem } | { refusal: Refusal } {
    const shape = v.safeParse(ItemSchema, raw)
    if (!shape.success) {
      const issues = shape.issues.map((issue) => ({
        path: (issue.path ?? []).map((p) => String(p.key)).join('.') || '(item)',
        message: `${issue.message} (Received: ${describeValue(issue.input)})`,
      }))
      return refuse('PAYLOAD_INVALID', 'Invalid item', issues)
    }
    const item: Item = shape.output
    const mapping = wk.mappings.find((m) => m.id === item.mapping)
    if (mapping === undefined) {
      return refuse('UNKNOWN_MAPPING', `No mapping ${describeValue(item.mapping)} for this write key`, [
        {
          path: 'mapping',
          message: `is not a mapping of this write key (Received: ${describeValue(item.mapping)})`,
        },
      ])
    }
    if (mapping.action !== item.action) {
      return refuse(
        'PAYLOAD_INVALID',
        `Mapping ${describeValue(mapping.id)} is a ${mapping.action} mapping`,
        [
          {
            path: 'action',
            message: `must be ${mapping.action} for mapping ${mapping.id} (Received: ${describeValue(item.action)})`,
          },
        ],
      )
    }

    if (wk.identity) {
      const id = item.identity
      if (id === undefined) {
        return refuse('IDENTITY_INVALID', 'This write key requires a signed identity on every item', [
          {
            path: 'identity',
            message: 'is required: { userId, signature } signed by your backend (Received: undefined)',
          },
        ])
      }
      if (!isValidSignature(wk.identity.secret, id.userId, id.signature)) {
        return refuse('IDENTITY_INVALID', 'The identity signature does not match its userId', [
          { path: 'identity.signature', message: 'does not match identity.userId' },
        ])
      }
      if (!isCanonicalUserId(id.userId)) {
        return refuse('IDENTITY_INVALID', 'A signed userId must be lower case without surrounding spaces', [
          {
            path: 'identity.userId',
            message: `must be lower case without surrounding spaces, because Qualtrics matches extRef ignoring case and spaces; sign the lower-cased id (Received: ${describeValue(id.userId)})`,
          },
        ])
      }
    }

    if (nestedDeeperThan(item.payload, MAX_PAYLOAD_DEPTH)) {
      return refuse('PAYLOAD_INVALID', 'Invalid item', [
        { path: 'payload', message: `is nested deeper than ${MAX_PAYLOAD_DEPTH} levels` },
      ])
    }

    // A workflow URL outside the allowlist is refused as such (403), whatever else is wrong with it:
    // lookalike hosts, user info, IP literals and other hosts never get as far as a host check.
    if (item.action === 'triggerXflowWorkflow' && typeof item.payload.workflowUrl === 'string') {
      const forbidden = checkAllowlists(item.action, item.payload, wk)
      if (forbidden) return forbidden
    }

    let checked: ReturnType<typeof checkPayload>
    try {
      checked = checkPayload(item.action, item.payload, {
        now: ctx.now,
        workflowOrigins: ctx.workflowOrigins,
      })
    } catch {
      // checkPayload is meant never to throw; if a pathological value makes it, refuse the item.
      return refuse('PAYLOAD_INVALID', 'Invalid item', [{ path: 'payload', message: 'could not be checked' }])
    }
    if (checked.payload === undefined) {
      return refuse(
        'PAYLOAD_INVALID',
        `Invalid ${item.action} payload`,
        checked.issues.map((i) => ({ path: `payload.${i.path}`, message: i.message })),
      )
    }
    const payload = checked.payload as unknown as Record<string, unknown>

    if (wk.identity && item.identity && item.action !== 'triggerXflowWorkflow') {
      if (payload.extRef !== item.identity.userId) {
        return refuse('IDENTITY_INVALID', 'payload.extRef must equal the signed identity.userId', [
          {
            path: 'payload.extRef',
            message: `must equal identity.userId (Received: ${describeValue(payload.extRef)})`,
          },
        ])
      }
      if (payload.contactId !== undefined && !wk.identity.allowContactId) {
        return refuse('IDENTITY_INVALID', 'payload.contactId is not accepted with signed identities', [
          {
            path: 'payload.contactId',
            message: `is refused: the contact is found by the signed extRef (Received: ${describeValue(payload.contactId)})`,
          },
        ])
      }
    }

    const forbidden = checkAllowlists(item.action, payload, wk)
    if (forbidden) return forbidden

    // Under signed identities only the extRef is vouched for: the engine finds existing contacts by it
    // alone, and keeps an e-mail or phone another contact holds out of the contacts it creates.
    const signedContact = wk.identity !== undefined && item.action !== 'triggerXflowWorkflow'
    return {
      item: {
        messageId: item.messageId,
        mappingId: item.mapping,
        action: item.action,
        payload,
        source: wk.name,
        ...(signedContact ? { lookupBy: SIGNED_LOOKUP } : {}),
      } as unknown as DeliveryItem,
    }
  }

  return [requireJsonBody, readText, (req: Request, res: Response) => handle(req, res)]
}

function checkAllowlists(
  action: ActionKey,
  payload: Record<string, unknown>,
  wk: WriteKeyConfig,
): { refusal: Refusal } | undefined {
  const deny = (field: string, list: string, value: unknown) =>
    refuse('FORBIDDEN', `${field} is not allowed for this write key`, [
      {
        path: `payload.${field}`,
        message: `is not in the write key's allow.${list} (Received: ${describeValue(value)})`,
      },
    ])
  if (action === 'triggerXflowWorkflow') {
    const url = payload.workflowUrl as string
    let href: string | undefined
    try {
      href = new URL(url).href
    } catch {
      href = undefined
    }
    if (href === undefined || !wk.allow.workflowUrls.has(href))
      return deny('workflowUrl', 'workflowUrls', url.split('?')[0])
    return undefined
  }
  if (!wk.allow.directories.has(payload.directoryId as string))
    return deny('directoryId', 'directories', payload.directoryId)
  if (action === 'upsertContactTransaction' && !wk.allow.mailingLists.has(payload.mailingListId as string)) {
    return deny('mailingListId', 'mailingLists', payload.mailingListId)
  }
  return undefined
}

/** How old a look at the database files may be when a batch is stored, in ms (see storage-guard.ts). */
const STORAGE_CHECK_MAX_AGE_MS = 1_000

/** Deeper than any real event; keeps recursion in checks, storage and delivery far from the stack limit. */
const MAX_PAYLOAD_DEPTH = 32

/** True when `value` nests objects/arrays more than `max` levels deep (checked without recursion). */
function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]]
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [unknown, number]
    if (typeof current !== 'object' || current === null) continue
    if (depth >= max) return true
    for (const child of Object.values(current)) stack.push([child, depth + 1])
  }
  return false
}

function refuse(code: ItemCode, message: string, issues: FieldIssue[]): { refusal: Refusal } {
  const detail = issues.length ? `: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}` : ''
  return { refusal: { code, message: `${message}${detail}`, issues } }
}

function refuseAll(refusals: { index: number; refusal: Refusal }[]): HttpError {
  const issues = refusals.flatMap(({ index, refusal }) =>
    refusal.issues.map((i) => ({ path: `items.${index}.${i.path}`, message: i.message })),
  )
  const codes = new Set(refusals.map((r) => r.refusal.code))
  const authorization = [...codes].every((c) => AUTHORIZATION_CODES.has(c))
  if (authorization) {
    const code = codes.size === 1 ? ([...codes][0] as ItemCode) : 'FORBIDDEN'
    return new HttpError(code, 403, 'Every item of the batch was refused', { issues })
  }
  const code = codes.size === 1 ? ([...codes][0] as ItemCode) : 'PAYLOAD_INVALID'
  return new HttpError(code, 400, 'Every item of the batch was refused', { issues })
}
