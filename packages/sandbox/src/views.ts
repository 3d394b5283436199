// Views: what each route shows of a record. With behaviour `dialect: 'published'` (default) the shapes
// of Qualtrics' published API definition (spec §2.4, §2.5; qualtrics-oas/schemas.json):
//   search element   ElementsInner1  id, phoneNumber, externalDataReference, dates as strings
//   get contact      Result5         contactId, phone, extRef, directoryUnsubscribed, dates as epoch ms
//   list contacts    ElementsInner   contactId, phone, extRef, unsubscribed
//   list-member      SingleContactLegacy (no contactLookupId)
// `lenient` keeps the sandbox's earlier answers (both spellings in search elements, ISO dates and
// `unsubscribed` in get contact, `contactLookupId` in list members).

import type { SearchDialect } from './search'
import type { ContactRecord, MailingListRecord, Scalar, TransactionRecord } from './types'

function definedOnly<T extends Record<string, unknown>>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T
}

/** Embedded data as the definition types it: string → string. */
function asStrings(data: Record<string, Scalar>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, String(v)]))
}

export function searchView(
  contact: ContactRecord,
  includeEmbedded: boolean,
  dialect: SearchDialect,
): Record<string, unknown> {
  if (dialect === 'lenient') {
    return definedOnly({
      id: contact.id,
      contactId: contact.id,
      firstName: contact.firstName,
      lastName: contact.lastName,
      email: contact.email,
      phone: contact.phone,
      phoneNumber: contact.phone,
      extRef: contact.extRef,
      externalDataReference: contact.extRef,
      language: contact.language,
      unsubscribed: contact.unsubscribed,
      creationDate: contact.creationDate,
      lastModified: contact.lastModified,
      embeddedData: includeEmbedded ? { ...contact.embeddedData } : undefined,
    })
  }
  return definedOnly({
    id: contact.id,
    creationDate: contact.creationDate,
    lastModified: contact.lastModified,
    firstName: contact.firstName,
    lastName: contact.lastName,
    email: contact.email,
    phoneNumber: contact.phone,
    externalDataReference: contact.extRef,
    language: contact.language,
    unsubscribed: contact.unsubscribed,
    embeddedData: includeEmbedded ? asStrings(contact.embeddedData) : undefined,
  })
}

export function listView(contact: ContactRecord): Record<string, unknown> {
  return definedOnly({
    contactId: contact.id,
    firstName: contact.firstName,
    lastName: contact.lastName,
    email: contact.email,
    phone: contact.phone,
    extRef: contact.extRef,
    language: contact.language,
    unsubscribed: contact.unsubscribed,
  })
}

/** A member of a mailing list (`GET …/mailinglists/{m}/contacts`). */
export function mailingListMemberView(
  contact: ContactRecord,
  lookupId: string,
  dialect: SearchDialect,
): Record<string, unknown> {
  if (dialect === 'lenient') return { ...listView(contact), contactLookupId: lookupId }
  return { ...listView(contact), embeddedData: asStrings(contact.embeddedData) }
}

function epochMs(iso: string): number {
  return Date.parse(iso)
}

/** `GET …/contacts/{c}`. */
export function detailView(
  contact: ContactRecord,
  lists: readonly MailingListRecord[],
  dialect: SearchDialect,
): Record<string, unknown> {
  const membership: Record<string, Record<string, unknown>> = {}
  for (const list of lists) {
    const lookupId = list.members[contact.id]
    if (lookupId === undefined) continue
    membership[list.id] =
      dialect === 'lenient'
        ? { name: list.name, contactLookupId: lookupId, unsubscribed: contact.unsubscribed }
        : {
            contactLookupId: lookupId,
            name: list.name,
            unsubscribed: contact.unsubscribed,
            ownerId: list.ownerId,
          }
  }
  if (dialect === 'lenient') {
    return { ...searchView(contact, true, 'lenient'), mailingListMembership: membership }
  }
  const at = contact.email?.lastIndexOf('@') ?? -1
  return definedOnly({
    contactId: contact.id,
    creationDate: epochMs(contact.creationDate),
    lastModified: epochMs(contact.lastModified),
    firstName: contact.firstName,
    lastName: contact.lastName,
    email: contact.email,
    emailDomain: contact.email !== undefined && at >= 0 ? contact.email.slice(at + 1) : undefined,
    phone: contact.phone,
    extRef: contact.extRef,
    embeddedData: asStrings(contact.embeddedData),
    language: contact.language,
    directoryUnsubscribed: contact.unsubscribed,
    mailingListMembership: membership,
  })
}

export function transactionView(t: TransactionRecord): Record<string, unknown> {
  return {
    transactionId: t.id,
    contactId: t.contactId,
    mailingListId: t.mailingListId,
    transactionDate: t.transactionDate,
    data: { ...t.data },
  }
}
