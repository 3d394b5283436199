// GET /v1/settings?writeKey=… — the public settings a plugin needs: the write key's mappings with
// pre-parsed triggers (and, when the Qualtrics host is not *.qualtrics.com, the origins workflow URLs
// may use). Never a secret. Strong ETag, revalidated on every use.
import { createHash } from 'node:crypto'
import { SETTINGS_VERSION, type PublicSettings } from '@qualtrics-relay/core'
import type { Request, Response } from 'express'
import type { WriteKeyConfig } from '../config'
import type { AppContext } from '../context'

interface Rendered {
  body: string
  etag: string
}

/** The settings document of one write key. Exported for tests and the CLI. */
export function publicSettings(writeKey: WriteKeyConfig, workflowOrigins: readonly string[]): PublicSettings {
  const settings: PublicSettings = {
    version: SETTINGS_VERSION,
    writeKey: writeKey.key,
    mappings: writeKey.mappings.map((m) => ({ ...m })),
  }
  if (workflowOrigins.length > 0) settings.workflowOrigins = [...workflowOrigins]
  return settings
}

export function settingsRoute(ctx: AppContext) {
  const rendered = new Map<string, Rendered>()
  for (const [key, wk] of ctx.config.writeKeys) {
    const body = JSON.stringify(publicSettings(wk, ctx.workflowOrigins))
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`
    rendered.set(key, { body, etag })
  }

  return (req: Request, res: Response): void => {
    const wk = ctx.writeKeyFromQuery(req)
    ctx.cors.checkOrigin(req, res, wk)
    const doc = rendered.get(wk.key) as Rendered
    res.setHeader('ETag', doc.etag)
    res.setHeader('Cache-Control', 'no-cache')
    if (matchesEtag(req.get('if-none-match'), doc.etag)) {
      res.status(304).end()
      return
    }
    res.status(200).type('application/json').send(doc.body)
  }
}

/** If-None-Match uses the weak comparison: `W/"x"` matches `"x"`; `*` matches anything. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)
}
