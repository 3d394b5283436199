// The DeliveryStore contract, as one suite run against every implementation (memory, SQLite file,
// SQLite :memory:). A networked store would run it too.

import { describe, expect, it } from 'vitest'
import type { DeliveryItem } from '../../src/actions/payloads'
import { deriveItemId } from '../../src/server/delivery/keys'
import type { DeliveryStore, NewItem } from '../../src/server/store/types'

const T0 = 1_700_000_000_000
const LEASE = 60_000

function item(messageId: string, mappingId = 'm1', extra: Partial<DeliveryItem> = {}): NewItem {
  return {
    id: deriveItemId({ source: extra.source, messageId, mappingId }),
    messageId,
    mappingId,
    action: 'triggerXflowWorkflow',
    payload: {
      workflowUrl: 'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=x',
      eventPayload: { n: 1 },
    },
    ...extra,
  } as NewItem
}

const error = (message: string, at = T0) => ({ code: 'QUALTRICS_API_ERROR', message, status: 503, at })

export function describeStoreContract(
  name: string,
  open: () => Promise<DeliveryStore> | DeliveryStore,
): void {
  describe(`${name}: DeliveryStore contract`, () => {
    async function withStore(fn: (store: DeliveryStore) => Promise<void>): Promise<void> {
      const store = await open()
      try {
        await fn(store)
      } finally {
        await store.close()
      }
    }

    it('accepts new items and reports duplicates by id, within a call and across calls', () =>
      withStore(async (store) => {
        const first = await store.accept([item('a'), item('a', 'm2'), item('a')], T0)
        expect(first.map((r) => [r.messageId, r.mappingId, r.status])).toEqual([
          ['a', 'm1', 'accepted'],
          ['a', 'm2', 'accepted'],
          ['a', 'm1', 'duplicate'],
        ])
        const again = await store.accept([item('a'), item('b')], T0 + 1)
        expect(again.map((r) => r.status)).toEqual(['duplicate', 'accepted'])
        expect(await store.counts()).toEqual({ pending: 3, leased: 0, delivered: 0, dead: 0 })
      }))

    it('keeps two sources’ items with one messageId and mapping apart, and shows each source its own', () =>
      withStore(async (store) => {
        const shop = item('order-1001', 'purchase', { source: 'wk_shop' })
        const other = item('order-1001', 'purchase', { source: 'wk_other' })
        expect((await store.accept([shop], T0)).map((r) => r.status)).toEqual(['accepted'])
        expect((await store.accept([other, shop], T0 + 1)).map((r) => [r.id, r.status])).toEqual([
          [other.id, 'accepted'],
          [shop.id, 'duplicate'],
        ])
        expect((await store.getByMessageId('order-1001', 'wk_other')).map((i) => i.id)).toEqual([other.id])
        expect((await store.getByMessageId('order-1001', 'wk_shop')).map((i) => i.id)).toEqual([shop.id])
        expect(await store.getByMessageId('order-1001', 'nobody')).toEqual([])
        expect(await store.getByMessageId('order-1001')).toHaveLength(2)
      }))

    it('keeps nothing of a call in which one item cannot be stored', () =>
      withStore(async (store) => {
        const bad = item('bad', 'm1', { payload: { workflowUrl: 'x', eventPayload: { n: 1n } } } as never)
        await expect(store.accept([item('ok'), bad], T0)).rejects.toMatchObject({ code: 'STORAGE_ERROR' })
        expect(await store.counts()).toEqual({ pending: 0, leased: 0, delivered: 0, dead: 0 })
        expect(await store.getByMessageId('ok')).toEqual([])
      }))

    it('stores the item as given and shows it by messageId', () =>
      withStore(async (store) => {
        await store.accept([{ ...item('m'), source: 'web' }, item('m', 'm2')], T0)
        const items = await store.getByMessageId('m')
        expect(items.map((i) => i.mappingId).sort()).toEqual(['m1', 'm2'])
        expect(items.find((i) => i.mappingId === 'm1')).toEqual({
          ...item('m'),
          source: 'web',
          state: 'pending',
          attempts: 0,
          createdAt: T0,
          updatedAt: T0,
          nextAttemptAt: T0,
        })
        expect(await store.getByMessageId('unknown')).toEqual([])
      }))

    it('keeps an item’s lookupBy through claim, retry and dead-letter replay', () =>
      withStore(async (store) => {
        await store.accept([{ ...item('lk'), lookupBy: ['extRef'] }, item('plain')], T0)
        const [first] = await store.getByMessageId('lk')
        expect(first?.lookupBy).toEqual(['extRef'])
        expect((await store.getByMessageId('plain'))[0]).not.toHaveProperty('lookupBy')
        const claimed = await store.claim({ now: T0, limit: 5, leaseMs: LEASE, owner: 'e1' })
        expect(claimed.find((i) => i.messageId === 'lk')?.lookupBy).toEqual(['extRef'])
        const id = deriveItemId({ messageId: 'lk', mappingId: 'm1' })
        await store.markDead(id, 'e1', { now: T0 + 1, attempts: 1, error: error('refused', T0 + 1) })
        await store.replayDeadLetters([id], T0 + 2)
        const again = await store.claim({ now: T0 + 2, limit: 5, leaseMs: LEASE, owner: 'e2' })
        expect(again.find((i) => i.id === id)?.lookupBy).toEqual(['extRef'])
      }))

    it('claims due items oldest first, up to the limit, and leases them', () =>
      withStore(async (store) => {
        await store.accept([item('a')], T0)
        await store.accept([item('b')], T0 + 10)
        await store.accept([item('c')], T0 + 20)
        const claimed = await store.claim({ now: T0 + 15, limit: 5, leaseMs: LEASE, owner: 'e1' })
        expect(claimed.map((i) => [i.messageId, i.state, i.leaseOwner, i.leaseUntil])).toEqual([
          ['a', 'leased', 'e1', T0 + 15 + LEASE],
          ['b', 'leased', 'e1', T0 + 15 + LEASE],
        ])
        expect(await store.claim({ now: T0 + 30, limit: 5, leaseMs: LEASE, owner: 'e2' })).toMatchObject([
          { messageId: 'c' },
        ])
        expect(await store.claim({ now: T0 + 30, limit: 0, leaseMs: LEASE, owner: 'e2' })).toEqual([])
        expect(await store.counts()).toMatchObject({ pending: 0, leased: 3 })
      }))

    it('makes the work of a vanished engine due again when its lease expires, and ignores its late answers', () =>
      withStore(async (store) => {
        await store.accept([item('a')], T0)
        const [claimed] = await store.claim({ now: T0, limit: 1, leaseMs: LEASE, owner: 'crashed' })
        expect(await store.claim({ now: T0 + LEASE - 1, limit: 1, leaseMs: LEASE, owner: 'e2' })).toEqual([])
        expect(await store.nextDueAt()).toBe(T0 + LEASE)
        const [again] = await store.claim({ now: T0 + LEASE, limit: 1, leaseMs: LEASE, owner: 'e2' })
        expect(again!.id).toBe(claimed!.id)
        expect(await store.markDelivered(claimed!.id, 'crashed', T0 + LEASE + 1)).toBe(false)
        expect(await store.markDelivered(again!.id, 'e2', T0 + LEASE + 2, { transactionId: 'CTR_1' })).toBe(
          true,
        )
        const [done] = await store.getByMessageId('a')
        expect(done).toMatchObject({
          state: 'delivered',
          deliveredAt: T0 + LEASE + 2,
          result: { transactionId: 'CTR_1' },
        })
        expect(done!.leaseOwner).toBeUndefined()
      }))

    it('renews the leases its owner still holds', () =>
      withStore(async (store) => {
        await store.accept([item('a'), item('b')], T0)
        const claimed = await store.claim({ now: T0, limit: 2, leaseMs: LEASE, owner: 'e1' })
        expect(
          await store.renewLeases([...claimed.map((c) => c.id), 'nope'], 'e1', T0 + 5 * LEASE, T0 + 1),
        ).toBe(2)
        expect(
          await store.renewLeases(
            claimed.map((c) => c.id),
            'other',
            T0 + 9 * LEASE,
            T0 + 1,
          ),
        ).toBe(0)
        expect(await store.claim({ now: T0 + 2 * LEASE, limit: 2, leaseMs: LEASE, owner: 'e2' })).toEqual([])
        expect(await store.nextDueAt()).toBe(T0 + 5 * LEASE)
      }))

    it('schedules a retry with its attempt count and error, due at nextAttemptAt', () =>
      withStore(async (store) => {
        await store.accept([item('a')], T0)
        const [claimed] = await store.claim({ now: T0, limit: 1, leaseMs: LEASE, owner: 'e1' })
        const update = {
          now: T0 + 5,
          nextAttemptAt: T0 + 1000,
          attempts: 1,
          error: { ...error('busy'), possiblyWritten: true },
        }
        expect(await store.scheduleRetry(claimed!.id, 'e2', update)).toBe(false)
        expect(await store.scheduleRetry(claimed!.id, 'e1', update)).toBe(true)
        expect(await store.getByMessageId('a')).toMatchObject([
          {
            state: 'pending',
            attempts: 1,
            nextAttemptAt: T0 + 1000,
            updatedAt: T0 + 5,
            lastError: update.error,
          },
        ])
        expect(await store.nextDueAt()).toBe(T0 + 1000)
        expect(await store.claim({ now: T0 + 999, limit: 1, leaseMs: LEASE, owner: 'e1' })).toEqual([])
        expect(await store.claim({ now: T0 + 1000, limit: 1, leaseMs: LEASE, owner: 'e1' })).toHaveLength(1)
      }))

    it('hands released work back, due at once, without counting an attempt', () =>
      withStore(async (store) => {
        await store.accept([item('a')], T0)
        const [claimed] = await store.claim({ now: T0, limit: 1, leaseMs: LEASE, owner: 'e1' })
        expect(await store.release([claimed!.id], 'e1', T0 + 7)).toBe(1)
        expect(await store.release([claimed!.id], 'e1', T0 + 8)).toBe(0)
        expect(await store.getByMessageId('a')).toMatchObject([
          { state: 'pending', attempts: 0, nextAttemptAt: T0 + 7 },
        ])
        expect(await store.nextDueAt()).toBe(T0 + 7)
      }))

    it('dead-letters, lists dead letters in pages, and replays them with attempts reset', () =>
      withStore(async (store) => {
        const ids = ['a', 'b', 'c'].map((m) => deriveItemId({ messageId: m, mappingId: 'm1' })).sort()
        await store.accept([item('a'), item('b'), item('c'), item('d')], T0)
        const claimed = await store.claim({ now: T0, limit: 4, leaseMs: LEASE, owner: 'e1' })
        for (const c of claimed.filter((x) => x.messageId !== 'd')) {
          expect(await store.markDead(c.id, 'e1', { now: T0 + 1, attempts: 4, error: error('gone') })).toBe(
            true,
          )
        }
        expect(await store.counts()).toEqual({ pending: 0, leased: 1, delivered: 0, dead: 3 })
        const page1 = await store.listDeadLetters({ limit: 2 })
        const page2 = await store.listDeadLetters({ limit: 2, after: page1.at(-1)!.id })
        expect([...page1, ...page2].map((d) => d.id)).toEqual(ids)
        expect(page1[0]).toMatchObject({ state: 'dead', attempts: 4, lastError: error('gone') })
        expect(await store.replayDeadLetters([ids[0]!, 'unknown'], T0 + 50)).toBe(1)
        expect(await store.counts()).toMatchObject({ pending: 1, dead: 2 })
        const replayed = (await store.claim({ now: T0 + 50, limit: 5, leaseMs: LEASE, owner: 'e1' }))[0]!
        expect(replayed).toMatchObject({ id: ids[0], attempts: 0, createdAt: T0 + 50 })
        expect(await store.replayDeadLetters(undefined, T0 + 60)).toBe(2)
        expect(await store.counts()).toEqual({ pending: 2, leased: 2, delivered: 0, dead: 0 })
      }))

    it('has nothing due when everything is settled', () =>
      withStore(async (store) => {
        expect(await store.nextDueAt()).toBeUndefined()
        await store.accept([item('a')], T0)
        const [c] = await store.claim({ now: T0, limit: 1, leaseMs: LEASE, owner: 'e1' })
        await store.markDelivered(c!.id, 'e1', T0 + 1)
        expect(await store.nextDueAt()).toBeUndefined()
      }))

    it('claims an item once in a claim, however often it was claimed and rescheduled before', () =>
      withStore(async (store) => {
        const id = item('again').id
        await store.accept([item('again')], T0)
        const retry = (now: number, nextAttemptAt: number) =>
          store.scheduleRetry(id, 'e1', { now, nextAttemptAt, attempts: 0, error: error('held back', now) })
        await store.claim({ now: T0, limit: 10, leaseMs: LEASE, owner: 'e1' })
        await retry(T0, T0 + 10)
        await store.claim({ now: T0 + 10, limit: 10, leaseMs: LEASE, owner: 'e1' })
        await retry(T0 + 10, T0 + 20)
        const claimed = await store.claim({ now: T0 + 2 * LEASE, limit: 10, leaseMs: LEASE, owner: 'e1' })
        expect(claimed.map((c) => c.messageId)).toEqual(['again'])
        expect(await store.claim({ now: T0 + 2 * LEASE, limit: 10, leaseMs: LEASE, owner: 'e2' })).toEqual([])
      }))

    it('tells when the oldest item still to deliver (pending or leased) was accepted', () =>
      withStore(async (store) => {
        expect(await store.oldestPendingAt()).toBeUndefined()
        await store.accept([item('old')], T0)
        await store.accept([item('mid')], T0 + 10)
        await store.accept([item('new')], T0 + 20)
        expect(await store.oldestPendingAt()).toBe(T0)
        // leased still counts; delivered and dead do not
        const [old] = await store.claim({ now: T0 + 30, limit: 1, leaseMs: LEASE, owner: 'e1' })
        expect(old?.messageId).toBe('old')
        expect(await store.oldestPendingAt()).toBe(T0)
        await store.markDelivered(old!.id, 'e1', T0 + 31)
        expect(await store.oldestPendingAt()).toBe(T0 + 10)
        const [mid] = await store.claim({ now: T0 + 40, limit: 1, leaseMs: LEASE, owner: 'e1' })
        await store.markDead(mid!.id, 'e1', { now: T0 + 41, attempts: 1, error: error('no') })
        expect(await store.oldestPendingAt()).toBe(T0 + 20)
        // a replayed dead letter is as old as its replay
        await store.replayDeadLetters(undefined, T0 + 50)
        expect(await store.oldestPendingAt()).toBe(T0 + 20)
        const [last] = await store.claim({ now: T0 + 60, limit: 1, leaseMs: LEASE, owner: 'e1' })
        expect(last?.messageId).toBe('new')
        await store.markDelivered(last!.id, 'e1', T0 + 61)
        expect(await store.oldestPendingAt()).toBe(T0 + 50)
      }))

    it('caches contact ids until they expire, and forgets them on request', () =>
      withStore(async (store) => {
        await store.putContacts([
          { key: 'POOL_1\u001fextRef\u001fu1', contactId: 'CID_1', expiresAt: T0 + 100 },
          { key: 'POOL_1\u001femail\u001fu1@x.com', contactId: 'CID_1', expiresAt: T0 + 100 },
        ])
        expect(await store.getContact('POOL_1\u001fextRef\u001fu1', T0 + 99)).toBe('CID_1')
        expect(await store.getContact('POOL_1\u001fextRef\u001fu1', T0 + 100)).toBeUndefined()
        await store.putContacts([
          { key: 'POOL_1\u001fextRef\u001fu1', contactId: 'CID_2', expiresAt: T0 + 500 },
        ])
        expect(await store.getContact('POOL_1\u001fextRef\u001fu1', T0 + 200)).toBe('CID_2')
        await store.deleteContacts(['POOL_1\u001fextRef\u001fu1'])
        expect(await store.getContact('POOL_1\u001fextRef\u001fu1', T0)).toBeUndefined()
        expect(await store.getContact('POOL_1\u001fextRef\u001fnever', T0)).toBeUndefined()
      }))

    it('prunes delivered items past retention (their messageId can then be accepted again) and expired contact ids', () =>
      withStore(async (store) => {
        await store.accept([item('old'), item('new'), item('dead')], T0)
        const claimed = await store.claim({ now: T0, limit: 3, leaseMs: LEASE, owner: 'e1' })
        for (const c of claimed) {
          if (c.messageId === 'dead')
            await store.markDead(c.id, 'e1', { now: T0, attempts: 1, error: error('x') })
          else await store.markDelivered(c.id, 'e1', c.messageId === 'old' ? T0 + 1 : T0 + 100)
        }
        await store.putContacts([
          { key: 'k1', contactId: 'CID_1', expiresAt: T0 + 10 },
          { key: 'k2', contactId: 'CID_2', expiresAt: T0 + 1000 },
        ])
        expect(await store.prune({ deliveredBefore: T0 + 50, now: T0 + 50 })).toEqual({
          items: 1,
          contacts: 1,
        })
        expect(await store.getByMessageId('old')).toEqual([])
        expect(await store.counts()).toEqual({ pending: 0, leased: 0, delivered: 1, dead: 1 })
        expect((await store.accept([item('old'), item('new')], T0 + 60)).map((r) => r.status)).toEqual([
          'accepted',
          'duplicate',
        ])
        expect(await store.getContact('k2', T0 + 50)).toBe('CID_2')
      }))

    it('lets one item claim a listed transaction: again for itself, never for another', () =>
      withStore(async (store) => {
        await store.accept([item('a'), item('b')], T0)
        const [a, b] = [item('a').id, item('b').id]
        const claim = (itemId: string, transactionId = 'CTR_1', directoryId = 'POOL_1') =>
          store.claimListedTransaction({ directoryId, transactionId, itemId, now: T0 })
        expect(await claim(a)).toBe(true)
        expect(await claim(b)).toBe(false)
        // a retry of the same item (lost lease, restart) finds its own claim
        expect(await claim(a)).toBe(true)
        expect(await claim(b, 'CTR_2')).toBe(true)
        expect(await claim(a, 'CTR_2')).toBe(false)
        // one transaction id in another directory is another transaction
        expect(await claim(b, 'CTR_1', 'POOL_2')).toBe(true)
      }))

    it('grants a contested claim to exactly one of the items asking at once', () =>
      withStore(async (store) => {
        const ids = Array.from({ length: 8 }, (_, i) => item(`c${i}`))
        await store.accept(ids, T0)
        const granted = await Promise.all(
          ids.map((i) =>
            store.claimListedTransaction({
              directoryId: 'POOL_1',
              transactionId: 'CTR_9',
              itemId: i.id,
              now: T0,
            }),
          ),
        )
        expect(granted.filter(Boolean)).toHaveLength(1)
      }))

    it('claims the transaction a delivered item reports for that item, in its directory', () =>
      withStore(async (store) => {
        const purchase = (messageId: string) =>
          item(messageId, 'm1', {
            action: 'upsertContactTransaction',
            payload: {
              directoryId: 'POOL_1',
              mailingListId: 'CG_1',
              extRef: 'u1',
              transactionDate: '2024-05-01 12:00:00',
              transactionData: { sku: 'mug' },
            },
          })
        await store.accept([purchase('a'), purchase('b'), item('w')], T0)
        const claimed = await store.claim({ now: T0, limit: 3, leaseMs: LEASE, owner: 'e1' })
        const id = (m: string) => claimed.find((c) => c.messageId === m)!.id
        await store.markDelivered(id('a'), 'e1', T0, { contactId: 'CID_1', transactionId: 'CTR_1' })
        // a workflow's result names no transaction: nothing to claim
        await store.markDelivered(id('w'), 'e1', T0, { status: 200 })
        const claim = (itemId: string, directoryId = 'POOL_1') =>
          store.claimListedTransaction({ directoryId, transactionId: 'CTR_1', itemId, now: T0 })
        expect(await claim(id('b'))).toBe(false)
        expect(await claim(id('a'))).toBe(true)
        expect(await claim(id('b'), 'POOL_2')).toBe(true)
        // a delivery whose transaction another item holds already still settles
        expect(await store.markDelivered(id('b'), 'e1', T0, { transactionId: 'CTR_1' })).toBe(true)
        expect(await claim(id('a'))).toBe(true)
      }))

    it('drops claims with their item when it is pruned, and keeps those of items still kept', () =>
      withStore(async (store) => {
        await store.accept([item('old'), item('kept'), item('other')], T0)
        for (const c of await store.claim({ now: T0, limit: 3, leaseMs: LEASE, owner: 'e1' })) {
          if (c.messageId === 'other') continue
          await store.claimListedTransaction({
            directoryId: 'POOL_1',
            transactionId: `CTR_${c.messageId}`,
            itemId: c.id,
            now: T0,
          })
          await store.markDelivered(c.id, 'e1', c.messageId === 'old' ? T0 + 1 : T0 + 100)
        }
        expect(await store.prune({ deliveredBefore: T0 + 50, now: T0 + 50 })).toMatchObject({ items: 1 })
        const other = item('other').id
        const claim = (transactionId: string) =>
          store.claimListedTransaction({ directoryId: 'POOL_1', transactionId, itemId: other, now: T0 + 60 })
        expect(await claim('CTR_kept')).toBe(false)
        expect(await claim('CTR_old')).toBe(true)
      }))

    it('refuses work once closed', async () => {
      const store = await open()
      await store.close()
      await expect(store.accept([item('a')], T0)).rejects.toMatchObject({ code: 'STORAGE_ERROR' })
      await expect(
        store.claimListedTransaction({ directoryId: 'POOL_1', transactionId: 'CTR_1', itemId: 'x', now: T0 }),
      ).rejects.toMatchObject({ code: 'STORAGE_ERROR' })
      await expect(store.close()).resolves.toBeUndefined()
    })
  })
}
