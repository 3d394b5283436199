// The Qualtrics routes the sandbox serves, by name. Names are used in the request log, in fault
// rules and in per-endpoint rate limits.

export const ROUTE_TABLE = [
  ['whoami', 'GET', '/API/v3/whoami'],
  ['listDirectories', 'GET', '/API/v3/directories'],
  ['listContacts', 'GET', '/API/v3/directories/:directoryId/contacts'],
  ['createContact', 'POST', '/API/v3/directories/:directoryId/contacts'],
  ['searchContacts', 'POST', '/API/v3/directories/:directoryId/contacts/search'],
  ['getContact', 'GET', '/API/v3/directories/:directoryId/contacts/:contactId'],
  ['updateContact', 'PUT', '/API/v3/directories/:directoryId/contacts/:contactId'],
  ['listContactTransactions', 'GET', '/API/v3/directories/:directoryId/contacts/:contactId/transactions'],
  ['listMailingLists', 'GET', '/API/v3/directories/:directoryId/mailinglists'],
  ['createMailingList', 'POST', '/API/v3/directories/:directoryId/mailinglists'],
  ['getMailingList', 'GET', '/API/v3/directories/:directoryId/mailinglists/:mailingListId'],
  ['listMailingListContacts', 'GET', '/API/v3/directories/:directoryId/mailinglists/:mailingListId/contacts'],
  [
    'createMailingListContact',
    'POST',
    '/API/v3/directories/:directoryId/mailinglists/:mailingListId/contacts',
  ],
  ['createTransactions', 'POST', '/API/v3/directories/:directoryId/transactions'],
  ['getTransaction', 'GET', '/API/v3/directories/:directoryId/transactions/:transactionId'],
  ['updateTransaction', 'PUT', '/API/v3/directories/:directoryId/transactions/:transactionId'],
  ['listTransactionBatches', 'GET', '/API/v3/directories/:directoryId/transactionbatches'],
  ['createTransactionBatch', 'POST', '/API/v3/directories/:directoryId/transactionbatches'],
  ['getTransactionBatch', 'GET', '/API/v3/directories/:directoryId/transactionbatches/:batchId'],
  [
    'listBatchTransactions',
    'GET',
    '/API/v3/directories/:directoryId/transactionbatches/:batchId/transactions',
  ],
  [
    'addBatchTransactions',
    'POST',
    '/API/v3/directories/:directoryId/transactionbatches/:batchId/transactions',
  ],
  // `json` is matched case-insensitively: legacy trigger URLs spell it `JSON`.
  ['triggerWorkflow', 'POST', '/inbound-event/v1/events/~json/triggers'],
] as const

export type RouteName = (typeof ROUTE_TABLE)[number][0]
export const ROUTE_NAMES: readonly string[] = ROUTE_TABLE.map(([name]) => name)

interface CompiledRoute {
  name: RouteName
  method: string
  segments: string[]
}

const COMPILED: CompiledRoute[] = ROUTE_TABLE.map(([name, method, path]) => ({
  name,
  method,
  segments: path.split('/').slice(1),
}))

export type RouteMatch =
  { found: true; name: RouteName; params: Record<string, string> } | { found: false; pathExists: boolean }

function matchSegments(pattern: string[], actual: string[]): Record<string, string> | undefined {
  if (pattern.length !== actual.length) return undefined
  const params: Record<string, string> = {}
  for (const [i, part] of pattern.entries()) {
    const value = actual[i] ?? ''
    if (part.startsWith(':')) {
      if (value === '') return undefined
      try {
        params[part.slice(1)] = decodeURIComponent(value)
      } catch {
        return undefined
      }
    } else if (part.startsWith('~')) {
      if (part.slice(1) !== value.toLowerCase()) return undefined
    } else if (part !== value) {
      return undefined
    }
  }
  return params
}

/** Matches a method and path (a single trailing slash is ignored, as Segment sends `/directories/`). */
export function matchRoute(method: string, pathname: string): RouteMatch {
  const trimmed = pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname
  const actual = trimmed.split('/').slice(1)
  let pathExists = false
  for (const route of COMPILED) {
    const params = matchSegments(route.segments, actual)
    if (!params) continue
    pathExists = true
    if (route.method === method.toUpperCase()) return { found: true, name: route.name, params }
  }
  return { found: false, pathExists }
}
