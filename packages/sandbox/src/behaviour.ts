// Switches for the behaviours Qualtrics does not document (spec section 5). Defaults are the choices
// documented in the README; each can be flipped so clients can be tested against either answer.

import { Issues, isRecord, optionalBoolean, optionalInteger } from './check'
import { SandboxError } from './errors'

export interface BehaviourOptions {
  /**
   * `published` (default): search filters, element shapes, get-contact shape and embedded data as
   * Qualtrics' published API definition has them (README "Published definition"). `lenient`: the
   * sandbox's earlier, more accepting reading (`or`, nesting, aliases, both field spellings).
   */
  dialect?: 'published' | 'lenient'
  /** Id answered when a create matches a merge rule: the existing contact's (default) or a new id that does not resolve. */
  mergeMatchId?: 'existing' | 'new'
  /** Whether empty strings overwrite existing values on a merge or PUT. Default false. */
  overwriteBlank?: boolean
  /** Embedded data on a merge or PUT: `merge` names into the existing set (default) or `replace` it. */
  embeddedDataUpdate?: 'merge' | 'replace'
  /** Case-sensitive search comparisons. Default false (as merge matching). */
  searchCaseSensitive?: boolean
  /** Search results beyond this depth answer 400. Default 10000. */
  searchDepthLimit?: number
  /** Largest `pageSize` accepted (larger answers 400). Default 100. */
  maxPageSize?: number
  /** Where search tells the next page: `skipToken` (`result.skipToken`, default, as published), `url` (`result.nextPage`) or `both`. */
  searchNextPage?: 'url' | 'skipToken' | 'both'
  /** A transaction key seen before in the directory: `create` another transaction (default) or `reject` it as unprocessed. */
  duplicateTransactionKey?: 'create' | 'reject'
  /** More transactions than this in one request answer 400. Default 1000. */
  maxTransactionsPerRequest?: number
  /** Transactions need the contact to be a member of `mailingListId`. Default false. */
  requireListMembership?: boolean
  /** Status of an accepted JSON event: 202 (default) or 200. */
  workflowStatus?: 200 | 202
  /** Largest JSON event body in bytes. Default 102400 (100 KB). */
  workflowMaxBytes?: number
  /** A request whose Host names another datacenter: `notice` (served with meta.notice, default), `ignore`, or `reject` (401 DCD_7). */
  wrongDatacenter?: 'ignore' | 'notice' | 'reject'
  /** Store embedded and transaction data values as strings. Default false (kept as sent). */
  coerceDataToStrings?: boolean
  /** Largest request body in bytes for the REST API. Default 5 MB. */
  maxBodyBytes?: number
}

export type ResolvedBehaviour = Required<BehaviourOptions>

export const DEFAULT_BEHAVIOUR: ResolvedBehaviour = {
  dialect: 'published',
  mergeMatchId: 'existing',
  overwriteBlank: false,
  embeddedDataUpdate: 'merge',
  searchCaseSensitive: false,
  searchDepthLimit: 10_000,
  maxPageSize: 100,
  searchNextPage: 'skipToken',
  duplicateTransactionKey: 'create',
  maxTransactionsPerRequest: 1000,
  requireListMembership: false,
  workflowStatus: 202,
  workflowMaxBytes: 100 * 1024,
  wrongDatacenter: 'notice',
  coerceDataToStrings: false,
  maxBodyBytes: 5 * 1024 * 1024,
}

const CHOICES: Partial<Record<keyof BehaviourOptions, readonly unknown[]>> = {
  dialect: ['published', 'lenient'],
  mergeMatchId: ['existing', 'new'],
  embeddedDataUpdate: ['merge', 'replace'],
  searchNextPage: ['url', 'skipToken', 'both'],
  duplicateTransactionKey: ['create', 'reject'],
  workflowStatus: [200, 202],
  wrongDatacenter: ['ignore', 'notice', 'reject'],
}

export function parseBehaviour(value: unknown, path = 'behaviour'): BehaviourOptions {
  const issues = new Issues()
  if (!isRecord(value)) {
    issues.add(path, 'must be an object', value)
    throw new SandboxError('INVALID_OPTION', issues.format('Invalid behaviour options'))
  }
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    if (!(key in DEFAULT_BEHAVIOUR))
      issues.add(`${path}.${key}`, `is not a behaviour option (${Object.keys(DEFAULT_BEHAVIOUR).join(', ')})`)
  }
  for (const [key, choices] of Object.entries(CHOICES)) {
    const v = value[key]
    if (v === undefined) continue
    if (choices.includes(v)) out[key] = v
    else issues.add(`${path}.${key}`, `must be one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`, v)
  }
  for (const key of [
    'overwriteBlank',
    'searchCaseSensitive',
    'requireListMembership',
    'coerceDataToStrings',
  ] as const) {
    const v = optionalBoolean(value, key, path, issues)
    if (v !== undefined) out[key] = v
  }
  for (const key of [
    'searchDepthLimit',
    'maxPageSize',
    'maxTransactionsPerRequest',
    'workflowMaxBytes',
    'maxBodyBytes',
  ] as const) {
    const v = optionalInteger(value, key, path, issues, { min: 1 })
    if (v !== undefined) out[key] = v
  }
  if (!issues.empty) throw new SandboxError('INVALID_OPTION', issues.format('Invalid behaviour options'))
  return out as BehaviourOptions
}

export function resolveBehaviour(options: BehaviourOptions = {}): ResolvedBehaviour {
  return { ...DEFAULT_BEHAVIOUR, ...options }
}
