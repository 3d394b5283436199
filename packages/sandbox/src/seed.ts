// The seed: users (tokens), directories with merge rules, mailing lists, contacts and workflows.
// `parseSeed` validates a seed (listing every bad key); `applySeed` writes it into a store.

import { Issues, isRecord, optionalBoolean, optionalString } from './check'
import { isoSeconds } from './clock'
import { readContactFields, newContactRecord, type ContactInput } from './contact-model'
import { SandboxError } from './errors'
import type { IdFactory } from './ids'
import type { Store } from './store'
import {
  MERGE_FIELDS,
  type DirectoryRecord,
  type MergeField,
  type MergeRule,
  type WorkflowAuth,
} from './types'

export interface SeedUser {
  /** The X-API-TOKEN. Generated (40 characters) when omitted. */
  token?: string
  userId?: string
  userName?: string
  /** Requests are rate-limited per brand. Defaults to the seed's `brandId`. */
  brandId?: string
  accountType?: string
  firstName?: string
  lastName?: string
  email?: string
}

export interface SeedMailingList {
  id?: string
  name?: string
  ownerId?: string
}

export interface SeedContact extends ContactInput {
  id?: string
  /** Lists (by id or name, in the same directory) the contact belongs to. */
  mailingLists?: string[]
}

export interface SeedDirectory {
  id?: string
  name?: string
  isDefault?: boolean
  /** Up to 3 merge rules, each a list of fields that must all match (case-insensitive). */
  mergeRules?: MergeRule[]
  mailingLists?: SeedMailingList[]
  contacts?: SeedContact[]
}

export interface SeedWorkflow {
  urlTokenId?: string
  name?: string
  /** Default `token`. */
  auth?: WorkflowAuth
  triggerId?: string
}

export interface SeedInput {
  /** Default `sbx1`. */
  datacenter?: string
  /** Default `sandbox`. */
  brandId?: string
  users?: SeedUser[]
  directories?: SeedDirectory[]
  workflows?: SeedWorkflow[]
}

/** Ids of what a seed created, in seed order. */
export interface SeedResult {
  tokens: string[]
  directoryIds: string[]
  mailingListIds: string[]
  contactIds: string[]
  workflowUrlTokenIds: string[]
}

const ID_PATTERN = /^[A-Za-z0-9_-]+$/
const DATACENTER_PATTERN = /^[a-z0-9-]+$/
const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

function optionalId(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  issues: Issues,
): string | undefined {
  const value = optionalString(obj, key, path, issues)
  if (value !== undefined && !ID_PATTERN.test(value)) {
    issues.add(`${path}.${key}`, 'must be letters, digits, "_" or "-"', value)
    return undefined
  }
  return value
}

function arrayAt(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  issues: Issues,
): unknown[] | undefined {
  const value = obj[key]
  if (value === undefined) return undefined
  if (!Array.isArray(value)) {
    issues.add(`${path}.${key}`, 'must be an array', value)
    return undefined
  }
  return value
}

function readMergeRules(value: unknown[], path: string, issues: Issues): MergeRule[] {
  if (value.length > 3) issues.add(path, 'at most 3 merge rules are allowed', value)
  const rules: MergeRule[] = []
  value.slice(0, 3).forEach((rule, i) => {
    if (!Array.isArray(rule) || rule.length === 0) {
      issues.add(`${path}[${i}]`, `must be a non-empty array of fields (${MERGE_FIELDS.join(', ')})`, rule)
      return
    }
    const fields: MergeField[] = []
    rule.forEach((field: unknown, j) => {
      if (typeof field === 'string' && (MERGE_FIELDS as readonly string[]).includes(field))
        fields.push(field as MergeField)
      else issues.add(`${path}[${i}][${j}]`, `must be one of ${MERGE_FIELDS.join(', ')}`, field)
    })
    rules.push(fields)
  })
  return rules
}

/** Validates a seed; throws a SandboxError listing every problem. */
export function parseSeed(value: unknown, path = 'seed'): SeedInput {
  const issues = new Issues()
  if (!isRecord(value)) {
    issues.add(path, 'must be a JSON object', value)
    throw new SandboxError('INVALID_SEED', issues.format('Invalid seed'))
  }
  const seed: SeedInput = {}
  const datacenter = optionalString(value, 'datacenter', path, issues)
  if (datacenter !== undefined) {
    if (DATACENTER_PATTERN.test(datacenter)) seed.datacenter = datacenter
    else issues.add(`${path}.datacenter`, 'must be lower-case letters, digits or "-"', datacenter)
  }
  const brandId = optionalId(value, 'brandId', path, issues)
  if (brandId !== undefined) seed.brandId = brandId

  const users = arrayAt(value, 'users', path, issues)
  if (users) {
    seed.users = []
    users.forEach((raw, i) => {
      const p = `${path}.users[${i}]`
      if (!isRecord(raw)) return issues.add(p, 'must be an object', raw)
      const user: SeedUser = {}
      const token = optionalString(raw, 'token', p, issues)
      if (token !== undefined) {
        if (/^[\x21-\x7e]{8,200}$/.test(token)) user.token = token
        else
          issues.add(`${p}.token`, 'must be 8 to 200 visible ASCII characters', `${token.length} characters`)
      }
      for (const key of ['userId', 'brandId'] as const) {
        const id = optionalId(raw, key, p, issues)
        if (id !== undefined) user[key] = id
      }
      for (const key of ['userName', 'accountType', 'firstName', 'lastName', 'email'] as const) {
        const text = optionalString(raw, key, p, issues)
        if (text !== undefined) user[key] = text
      }
      seed.users?.push(user)
    })
  }

  const directories = arrayAt(value, 'directories', path, issues)
  if (directories) {
    seed.directories = []
    directories.forEach((raw, i) => {
      const p = `${path}.directories[${i}]`
      if (!isRecord(raw)) return issues.add(p, 'must be an object', raw)
      const directory: SeedDirectory = {}
      const id = optionalId(raw, 'id', p, issues)
      if (id !== undefined) directory.id = id
      const name = optionalString(raw, 'name', p, issues)
      if (name !== undefined) directory.name = name
      const isDefault = optionalBoolean(raw, 'isDefault', p, issues)
      if (isDefault !== undefined) directory.isDefault = isDefault
      const rules = arrayAt(raw, 'mergeRules', p, issues)
      if (rules) directory.mergeRules = readMergeRules(rules, `${p}.mergeRules`, issues)
      const lists = arrayAt(raw, 'mailingLists', p, issues)
      if (lists) {
        directory.mailingLists = []
        lists.forEach((rawList, j) => {
          const lp = `${p}.mailingLists[${j}]`
          if (!isRecord(rawList)) return issues.add(lp, 'must be an object', rawList)
          const list: SeedMailingList = {}
          const listId = optionalId(rawList, 'id', lp, issues)
          if (listId !== undefined) list.id = listId
          const listName = optionalString(rawList, 'name', lp, issues)
          if (listName !== undefined) list.name = listName
          const ownerId = optionalString(rawList, 'ownerId', lp, issues)
          if (ownerId !== undefined) list.ownerId = ownerId
          directory.mailingLists?.push(list)
        })
      }
      const contacts = arrayAt(raw, 'contacts', p, issues)
      if (contacts) {
        directory.contacts = []
        contacts.forEach((rawContact, j) => {
          const cp = `${p}.contacts[${j}]`
          const fields = readContactFields(rawContact, cp, issues)
          if (!isRecord(rawContact)) return
          const contact: SeedContact = { ...fields }
          const contactId = optionalId(rawContact, 'id', cp, issues)
          if (contactId !== undefined) contact.id = contactId
          const memberOf = arrayAt(rawContact, 'mailingLists', cp, issues)
          if (memberOf) {
            contact.mailingLists = []
            memberOf.forEach((ref, k) => {
              if (typeof ref === 'string') contact.mailingLists?.push(ref)
              else issues.add(`${cp}.mailingLists[${k}]`, 'must be a mailing list id or name', ref)
            })
          }
          directory.contacts?.push(contact)
        })
      }
      seed.directories?.push(directory)
    })
  }

  const workflows = arrayAt(value, 'workflows', path, issues)
  if (workflows) {
    seed.workflows = []
    workflows.forEach((raw, i) => {
      const p = `${path}.workflows[${i}]`
      if (!isRecord(raw)) return issues.add(p, 'must be an object', raw)
      const workflow: SeedWorkflow = {}
      const urlTokenId = optionalString(raw, 'urlTokenId', p, issues)
      if (urlTokenId !== undefined) {
        if (UUID_PATTERN.test(urlTokenId)) workflow.urlTokenId = urlTokenId
        else issues.add(`${p}.urlTokenId`, 'must be a UUID', urlTokenId)
      }
      const name = optionalString(raw, 'name', p, issues)
      if (name !== undefined) workflow.name = name
      const auth = raw['auth']
      if (auth !== undefined) {
        if (auth === 'none' || auth === 'token') workflow.auth = auth
        else issues.add(`${p}.auth`, 'must be "none" or "token"', auth)
      }
      const triggerId = optionalId(raw, 'triggerId', p, issues)
      if (triggerId !== undefined) workflow.triggerId = triggerId
      seed.workflows?.push(workflow)
    })
  }

  if (!issues.empty) throw new SandboxError('INVALID_SEED', issues.format('Invalid seed'))
  return seed
}

/** Checks, before anything is written, that every contact's lists exist (in the seed or the store). */
function checkListReferences(store: Store, seed: SeedInput): void {
  const issues: string[] = []
  for (const [index, directory] of (seed.directories ?? []).entries()) {
    const known = new Set<string>()
    for (const list of directory.mailingLists ?? []) {
      if (list.id !== undefined) known.add(list.id)
      if (list.name !== undefined) known.add(list.name)
    }
    if (directory.id !== undefined) {
      for (const list of store.mailingLists.values()) {
        if (list.directoryId === directory.id) known.add(list.id).add(list.name)
      }
    }
    for (const [j, contact] of (directory.contacts ?? []).entries()) {
      for (const ref of contact.mailingLists ?? []) {
        if (!known.has(ref)) {
          issues.push(
            `seed.directories[${index}].contacts[${j}].mailingLists: no mailing list with this id or name in the directory (Received: ${JSON.stringify(ref)})`,
          )
        }
      }
    }
  }
  if (issues.length === 1) throw new SandboxError('INVALID_SEED', `Invalid seed: ${issues[0] ?? ''}`)
  if (issues.length > 1)
    throw new SandboxError('INVALID_SEED', `Invalid seed:\n${issues.map((i) => `  - ${i}`).join('\n')}`)
}

export interface ApplySeedDeps {
  ids: IdFactory
  now: () => number
}

/**
 * Writes a seed into a store. With `defaults`, missing sections get the sandbox's defaults (one user,
 * one directory with merge rules on extRef then email and one mailing list, one workflow); used at
 * start and on reset. Without, only what the seed lists is added (records with known ids are replaced).
 */
export function applySeed(
  store: Store,
  seed: SeedInput,
  deps: ApplySeedDeps,
  options: { defaults: boolean },
): SeedResult {
  const now = isoSeconds(deps.now())
  const newId = (prefix: string, given?: string): string =>
    store.reserve(given ?? deps.ids.id(prefix, (id) => store.idTaken(id)))
  const result: SeedResult = {
    tokens: [],
    directoryIds: [],
    mailingListIds: [],
    contactIds: [],
    workflowUrlTokenIds: [],
  }
  checkListReferences(store, seed)

  if (seed.datacenter !== undefined) store.datacenter = seed.datacenter
  if (seed.brandId !== undefined) store.brandId = seed.brandId

  const users = seed.users ?? (options.defaults ? [{}] : [])
  for (const user of users) {
    const token = user.token ?? deps.ids.token()
    const email = user.email ?? 'sandbox.user@example.com'
    const brandId = user.brandId ?? store.brandId
    store.users.set(token, {
      token,
      userId: user.userId ?? newId('UR_'),
      userName: user.userName ?? `${email}#${brandId}`,
      brandId,
      accountType: user.accountType ?? 'UT_BRANDADMIN',
      firstName: user.firstName ?? 'Sandbox',
      lastName: user.lastName ?? 'User',
      email,
    })
    result.tokens.push(token)
  }
  const ownerId = [...store.users.values()][0]?.userId ?? 'UR_000000000000000'

  const directories: SeedDirectory[] =
    seed.directories ??
    (options.defaults
      ? [
          {
            name: 'Sandbox Directory',
            isDefault: true,
            mergeRules: [['extRef'], ['email']],
            mailingLists: [{ name: 'Sandbox Mailing List' }],
          },
        ]
      : [])
  for (const [index, seeded] of directories.entries()) {
    const id =
      seeded.id !== undefined && store.directories.has(seeded.id) ? seeded.id : newId('POOL_', seeded.id)
    const existing = store.directories.get(id)
    const directory: DirectoryRecord = {
      id,
      name: seeded.name ?? existing?.name ?? `Directory ${store.directories.size + 1}`,
      isDefault: seeded.isDefault ?? existing?.isDefault ?? (index === 0 && store.directories.size === 0),
      mergeRules: seeded.mergeRules ?? existing?.mergeRules ?? [],
      creationDate: existing?.creationDate ?? now,
    }
    store.directories.set(id, directory)
    result.directoryIds.push(id)

    const listIdsByRef = new Map<string, string>()
    for (const list of store.mailingLists.values()) {
      if (list.directoryId === id) {
        listIdsByRef.set(list.id, list.id)
        listIdsByRef.set(list.name, list.id)
      }
    }
    for (const seededList of seeded.mailingLists ?? []) {
      const existingList = seededList.id === undefined ? undefined : store.mailingLists.get(seededList.id)
      const listId = existingList?.id ?? newId('CG_', seededList.id)
      const name = seededList.name ?? `Mailing list ${listIdsByRef.size / 2 + 1}`
      store.mailingLists.set(listId, {
        id: listId,
        directoryId: id,
        name,
        ownerId: seededList.ownerId ?? ownerId,
        creationDate: existingList?.creationDate ?? now,
        lastModifiedDate: now,
        members: existingList?.members ?? {},
      })
      listIdsByRef.set(listId, listId)
      listIdsByRef.set(name, listId)
      result.mailingListIds.push(listId)
    }

    for (const seededContact of seeded.contacts ?? []) {
      const { id: givenId, mailingLists, ...fields } = seededContact
      const contactId =
        givenId !== undefined && store.contacts.has(givenId) ? givenId : newId('CID_', givenId)
      store.contacts.set(contactId, newContactRecord(contactId, directory, fields, 'seed', now))
      for (const ref of mailingLists ?? []) {
        const listId = listIdsByRef.get(ref)
        const list = listId === undefined ? undefined : store.mailingLists.get(listId)
        if (list) list.members[contactId] ??= newId('CGC_')
      }
      result.contactIds.push(contactId)
    }
  }

  const workflows = seed.workflows ?? (options.defaults ? [{ name: 'Sandbox workflow' }] : [])
  for (const workflow of workflows) {
    const urlTokenId = workflow.urlTokenId ?? deps.ids.uuid()
    store.workflows.set(urlTokenId.toLowerCase(), {
      urlTokenId,
      name: workflow.name ?? `Workflow ${store.workflows.size + 1}`,
      auth: workflow.auth ?? 'token',
      ...(workflow.triggerId === undefined ? {} : { triggerId: workflow.triggerId }),
    })
    result.workflowUrlTokenIds.push(urlTokenId)
  }
  store.touch()
  return result
}
