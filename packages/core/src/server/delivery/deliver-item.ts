// Delivering one claimed item by its action: a workflow trigger (after the operator's URL guard), a
// contact upsert, or a transaction (its contact resolved, the re-send check after an ambiguous failure,
// then into a batch). Every outcome is settled in the store before the returned promise resolves.

import { describeValue, RelayError } from '../../errors'
import type { QualtricsApi } from '../qualtrics/types'
import type { StoredItem } from '../store/types'
import type { CallQualtrics, ContactResolver } from './contacts'
import type { DeliveryEngineConfig, DeliveryLogger } from './options'
import type { TransactionItem } from './resend-check'
import type { Settler } from './settle'
import type { TransactionBatcher } from './transaction-batches'

export interface ItemDelivererOptions {
  client: Pick<QualtricsApi, 'triggerWorkflow'>
  guard: DeliveryEngineConfig['isWorkflowUrlAllowed']
  logger: DeliveryLogger
  call: CallQualtrics
  contacts: Pick<ContactResolver, 'resolve' | 'upsert'>
  settler: Settler
  batcher: Pick<TransactionBatcher, 'add'>
  /** The re-send check (resend-check.ts). */
  findWritten: (item: TransactionItem, contactId: string) => Promise<string | undefined>
}

/** Delivers one item; `ready` is called once the item is settled or waiting in a transaction batch. */
export type DeliverItem = (item: StoredItem, ready: () => void) => Promise<void>

/** A workflow URL for messages: origin and path, never the query (it carries the trigger's token id). */
function showUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.origin}${u.pathname}`
  } catch {
    return describeValue(url.split('?')[0], 80)
  }
}

export function createItemDeliverer(options: ItemDelivererOptions): DeliverItem {
  const { client, guard, logger, call, contacts, findWritten, batcher } = options
  const { delivered, failed } = options.settler

  async function deliverWorkflow(item: StoredItem & { action: 'triggerXflowWorkflow' }): Promise<void> {
    const { workflowUrl, eventPayload } = item.payload
    if (guard !== undefined) {
      let allowed: boolean
      try {
        allowed = (await guard(workflowUrl)) === true
      } catch (error) {
        logger.error({ err: error }, 'isWorkflowUrlAllowed threw; refusing the URL')
        allowed = false
      }
      if (!allowed) {
        throw new RelayError(
          'HOST_NOT_ALLOWED',
          `Workflow URL ${showUrl(workflowUrl)} is not one of the workflow URLs the operator allowed; nothing was sent`,
          { status: 403, retryable: false },
        )
      }
    }
    const response = await call('triggerWorkflow', 1, () => client.triggerWorkflow(workflowUrl, eventPayload))
    await delivered(item, { status: response.status })
  }

  async function deliverContact(item: StoredItem & { action: 'addContactToXmd' }): Promise<void> {
    const contactId = await contacts.upsert(item.payload, {
      afterAmbiguousWrite: item.lastError?.possiblyWritten === true,
      lookupBy: item.lookupBy,
    })
    await delivered(item, { contactId })
  }

  async function deliver(item: StoredItem, ready: () => void): Promise<void> {
    try {
      switch (item.action) {
        case 'triggerXflowWorkflow':
          await deliverWorkflow(item)
          return
        case 'addContactToXmd':
          await deliverContact(item)
          return
        case 'upsertContactTransaction': {
          const contact = await contacts.resolve(item.payload, item.lookupBy)
          if (item.lastError?.possiblyWritten === true) {
            const transactionId = await findWritten(item, contact.contactId)
            if (transactionId !== undefined) {
              logger.info(
                { id: item.id, messageId: item.messageId, transactionId },
                'an earlier attempt wrote this transaction; not sending it again',
              )
              await delivered(item, { contactId: contact.contactId, transactionId, transactionKey: item.id })
              return
            }
          }
          const inBatch = batcher.add(item, contact)
          ready()
          await inBatch
          return
        }
        default:
          throw new RelayError(
            'PAYLOAD_INVALID',
            `Unknown action ${describeValue((item as { action: unknown }).action)} in the queue`,
            {
              retryable: false,
            },
          )
      }
    } catch (error) {
      // Workflow and contact errors come from their one write; transaction errors here come from
      // looking the contact up (batch failures are settled in sendBatch).
      await failed(item, error, item.action !== 'upsertContactTransaction')
    }
  }

  return deliver
}
