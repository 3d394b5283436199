// The one moment a crash can still hurt: the proxy has sent a write, Qualtrics has applied it, and the
// proxy dies (SIGKILL) before it records the delivery. Made deterministic here: the sandbox applies
// each write and then holds the answer, the proxy is killed while it waits, and a new proxy on the same
// SQLite file takes the work over once the dead one's lease expires. Then the same with two identical
// purchases (one buyer, instant and data; two events): the re-send check must count the transaction
// written before the crash as one item's only.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandbox, type RunningSandbox } from '@qualtrics-relay/sandbox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnProxy, type ChildProxy } from './lib/child-proxy'
import { figure, note } from './lib/figures'
import {
  ADMIN_TOKEN,
  contactItem,
  freePort,
  postBatch,
  purchaseItem,
  QUICK_DELIVERY,
  relayConfig,
  request,
  resultsOf,
  type BatchItem,
  targetOf,
  waitFor,
  WRITE_KEY,
  workflowItem,
} from './lib/relay'

let sandbox: RunningSandbox
let dir: string
let current: ChildProxy | undefined
const ids = { contact: 'crash-contact-1', purchase: 'crash-purchase-1', workflow: 'crash-workflow-1' }

/** A proxy's config and environment on `sandbox` and one SQLite file, with answers awaited for 30 s. */
async function proxyOn(sb: RunningSandbox, storagePath: string) {
  const config = relayConfig(targetOf(sb), {
    port: await freePort(),
    storagePath,
    delivery: { ...QUICK_DELIVERY, requestTimeoutMs: 30_000, leaseMs: 1_500 },
  })
  const env = { QUALTRICS_API_TOKEN: sb.token, QUALTRICS_BASE_URL: sb.url, RELAY_ADMIN_TOKEN: ADMIN_TOKEN }
  return { config, env }
}

/** Creates the contact `extRef` in the sandbox, so a transaction for it needs no contact create. */
async function createBuyer(sb: RunningSandbox, extRef: string): Promise<void> {
  const created = await request(`${sb.url}/API/v3/directories/${sb.directoryId}/contacts`, {
    method: 'POST',
    headers: { 'X-API-TOKEN': sb.token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ extRef, email: `${extRef}@example.com` }),
  })
  expect(created.status).toBe(200)
}

/** Waits until every item of `messageId` is delivered, asking the proxy at `base`. */
function delivered(base: string, messageId: string): Promise<true> {
  return waitFor(
    `${messageId} to be delivered`,
    async () => {
      const status = await request(`${base}/v1/messages/${messageId}?writeKey=${WRITE_KEY}`)
      const items = (status.json as { items?: { state: string }[] } | undefined)?.items ?? []
      return items.length > 0 && items.every((i) => i.state === 'delivered') ? true : undefined
    },
    20_000,
    100,
  )
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-crash-'))
  sandbox = await startSandbox({ randomSeed: 7 })
  const target = targetOf(sandbox)
  // The buyer exists already, so the transaction needs no contact create (which is held below).
  await createBuyer(sandbox, 'crash-buyer')

  // Every write is applied, then its answer is held for 20 s (longer than the proxy lives).
  sandbox.setFaults(
    (['createContact', 'createTransactions', 'triggerWorkflow'] as const).map((route) => ({
      kind: 'timeout' as const,
      ms: 20_000,
      afterWrite: true,
      route,
      times: 1,
    })),
  )
  const { config, env } = await proxyOn(sandbox, join(dir, 'relay.db'))

  const first = spawnProxy({ dir, config, env })
  current = first
  await first.ready()
  const answer = await postBatch(first.url, [
    contactItem(target, ids.contact, 'crash-contact'),
    purchaseItem(target, ids.purchase, 'crash-buyer'),
    workflowItem(target, ids.workflow),
  ])
  expect(resultsOf(answer).map((r) => r.status)).toEqual(['accepted', 'accepted', 'accepted'])

  // Wait until all three writes are applied (and their answers held), then kill.
  await waitFor(
    'the three writes to be applied',
    () => {
      const s = sandbox.inspect()
      const done =
        s.contacts.some((c) => c.extRef === 'crash-contact') &&
        s.transactions.some((t) => t.data.messageId === ids.purchase) &&
        s.workflowRuns.some((r) => (r.payload as { messageId?: string }).messageId === ids.workflow)
      return done ? true : undefined
    },
    20_000,
  )
  first.kill('SIGKILL')
  await first.exited

  const second = spawnProxy({ dir, config, env })
  current = second
  await second.ready()
  for (const id of Object.values(ids)) await delivered(second.url, id)
  second.kill('SIGTERM')
  await second.exited
  current = undefined
}, 120_000)

afterAll(async () => {
  current?.kill('SIGKILL')
  await current?.exited
  await sandbox?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('a proxy killed after a write was applied and before its answer arrived', () => {
  it('does not duplicate the contact: the create is sent again and merged by the extRef rule', ({ task }) => {
    const contacts = sandbox.inspect().contacts.filter((c) => c.extRef === 'crash-contact')
    figure(task, 'contacts', 'contacts with that extRef', contacts.length)
    figure(task, 'merged', 'creates merged into it', contacts[0]?.mergeCount ?? 0)
    expect(contacts).toHaveLength(1)
  })

  // Found by this suite (e93c598): an item reclaimed from a dead process's expired lease was sent again
  // without first looking for its transaction, so the transaction was written twice.
  it('does not write the transaction again: it finds the first copy before sending', () => {
    const s = sandbox.inspect()
    const copies = s.transactions.filter((t) => t.data.messageId === ids.purchase)
    expect(copies).toHaveLength(1)
  })

  it('leaves one transaction, and runs the workflow start at least once', ({ task }) => {
    const s = sandbox.inspect()
    const transactions = s.transactions.filter((t) => t.data.messageId === ids.purchase).length
    const runs = s.workflowRuns.filter(
      (r) => (r.payload as { messageId?: string }).messageId === ids.workflow,
    )
    figure(task, 'transactions', 'copies of the transaction', transactions)
    figure(task, 'keyCount', 'writes under its key', Math.max(...Object.values(s.transactionKeyCounts)))
    // JSON events carry no idempotency key: a start whose answer was lost is started again
    // (at least once). This records it; it is a documented limit, not a regression.
    figure(task, 'workflowRuns', 'runs of the workflow start', runs.length)
    note(
      task,
      'A workflow start whose answer was lost to a crash runs again when the next proxy takes the item over: JSON events have no idempotency key, so workflow starts are delivered at least once.',
    )
    expect(transactions).toBe(1)
    expect(runs.length).toBeGreaterThanOrEqual(1)
  })
})

describe('two identical purchases: one written before a crash, the other failing after it without being written', () => {
  let twins: RunningSandbox
  let twinDir: string
  let twinProxy: ChildProxy | undefined
  /** One buyer, one instant, one set of data: two events whose transactions are alike but for the key. */
  const twin = (messageId: string): BatchItem => {
    const item = purchaseItem(targetOf(twins), messageId, 'twin-buyer')
    return { ...item, payload: { ...item.payload, transactionData: { sku: 'mug', total: 12 } } }
  }

  beforeAll(async () => {
    twinDir = mkdtempSync(join(tmpdir(), 'relay-twins-'))
    twins = await startSandbox({ randomSeed: 8 })
    await createBuyer(twins, 'twin-buyer')
    const { config, env } = await proxyOn(twins, join(twinDir, 'relay.db'))

    // The first purchase is written, its answer held, and the proxy killed while it waits.
    twins.setFaults([
      { kind: 'timeout', ms: 20_000, afterWrite: true, route: 'createTransactions', times: 1 },
    ])
    const first = spawnProxy({ dir: twinDir, config, env })
    twinProxy = first
    await first.ready()
    await postBatch(first.url, [twin('twin-a')])
    await waitFor(
      'the first purchase to be written',
      () => (twins.inspect().transactions.length > 0 ? true : undefined),
      20_000,
    )
    first.kill('SIGKILL')
    await first.exited

    // The next proxy takes it over, finds it written and claims it. Then the second purchase's write
    // fails without being applied (500), and its re-send check finds the first one's transaction.
    const second = spawnProxy({ dir: twinDir, config, env })
    twinProxy = second
    await second.ready()
    await delivered(second.url, 'twin-a')
    twins.setFaults([
      { kind: 'http-error', status: 500, afterWrite: false, route: 'createTransactions', times: 1 },
    ])
    await postBatch(second.url, [twin('twin-b')])
    await delivered(second.url, 'twin-b')
    second.kill('SIGTERM')
    await second.exited
    twinProxy = undefined
  }, 120_000)

  afterAll(async () => {
    twinProxy?.kill('SIGKILL')
    await twinProxy?.exited
    await twins?.close()
    if (twinDir) rmSync(twinDir, { recursive: true, force: true })
  })

  it('matches the written transaction to one of them only and sends the other: two transactions, one per key', ({
    task,
  }) => {
    const s = twins.inspect()
    const writes = Object.values(s.transactionKeyCounts)
    figure(task, 'transactions', 'transactions of the buyer', s.transactions.length)
    figure(task, 'keys', 'keys written', writes.length)
    note(
      task,
      'Qualtrics lists no transaction keys, so after an ambiguous failure a transaction is matched by list, instant and data, and identical transactions of two events match each other’s. Each transaction is claimed by one item in the store (by the item whose delivery recorded its id, or whose re-send check matched it first), and an identical item finds it taken and is sent. Before the claims, the second purchase here settled on the first one’s transaction and was never sent. Left open: in the moment between Qualtrics applying a write and the proxy recording it, an identical item’s re-send check could still take that transaction.',
    )
    expect(s.transactions).toHaveLength(2)
    expect(writes).toEqual([1, 1])
  })
})
