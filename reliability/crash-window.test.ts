// The one moment a crash can still hurt: the proxy has sent a write, Qualtrics has applied it, and the
// proxy dies (SIGKILL) before it records the delivery. Made deterministic here: the sandbox applies
// each write and then holds the answer, the proxy is killed while it waits, and a new proxy on the same
// SQLite file takes the work over once the dead one's lease expires.
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
  targetOf,
  waitFor,
  WRITE_KEY,
  workflowItem,
} from './lib/relay'

let sandbox: RunningSandbox
let dir: string
let current: ChildProxy | undefined
const ids = { contact: 'crash-contact-1', purchase: 'crash-purchase-1', workflow: 'crash-workflow-1' }

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-crash-'))
  sandbox = await startSandbox({ randomSeed: 7 })
  const target = targetOf(sandbox)
  // The buyer exists already, so the transaction needs no contact create (which is held below).
  const created = await request(`${sandbox.url}/API/v3/directories/${sandbox.directoryId}/contacts`, {
    method: 'POST',
    headers: { 'X-API-TOKEN': sandbox.token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ extRef: 'crash-buyer', email: 'crash-buyer@example.com' }),
  })
  expect(created.status).toBe(200)

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
  const config = relayConfig(target, {
    port: await freePort(),
    storagePath: join(dir, 'relay.db'),
    delivery: { ...QUICK_DELIVERY, requestTimeoutMs: 30_000, leaseMs: 1_500 },
  })
  const env = {
    QUALTRICS_API_TOKEN: sandbox.token,
    QUALTRICS_BASE_URL: sandbox.url,
    RELAY_ADMIN_TOKEN: ADMIN_TOKEN,
  }

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
  for (const id of Object.values(ids)) {
    await waitFor(
      `${id} to be delivered`,
      async () => {
        const status = await request(`${second.url}/v1/messages/${id}?writeKey=${WRITE_KEY}`)
        const items = (status.json as { items?: { state: string }[] } | undefined)?.items ?? []
        return items.length > 0 && items.every((i) => i.state === 'delivered') ? true : undefined
      },
      20_000,
      100,
    )
  }
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
