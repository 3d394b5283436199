// The panel's "Send 100 purchases": that many new shoppers buying at once, through the balancer, as
// their browsers' plugins would send them (batches, the same messageId again after a failed answer).
// A few clicks in the shop barely move the fleet's request rates and the shared bucket; this does.
import { randomBytes } from 'node:crypto'
import type { RunningSandbox } from '@qualtrics-relay/sandbox'

export const BURST_SIZE = 100
const PER_BATCH = 10
const ATTEMPTS = 3

export interface BurstResult {
  accepted: number
  duplicate: number
  /** Items no answer accepted after three tries (a batch answered 502/503 each time, say). */
  failed: number
}

interface ItemResult {
  status: 'accepted' | 'duplicate' | 'rejected'
}

function purchases(ids: Pick<RunningSandbox, 'directoryId' | 'mailingListId'>) {
  const run = randomBytes(4).toString('hex')
  return Array.from({ length: BURST_SIZE }, (_, n) => {
    const orderId = `burst-${run}-${n + 1}`
    return {
      messageId: `msg-${orderId}`,
      mapping: 'demo-transaction',
      action: 'upsertContactTransaction',
      payload: {
        directoryId: ids.directoryId,
        mailingListId: ids.mailingListId,
        extRef: `shopper-${run}-${n + 1}`,
        email: `shopper-${run}-${n + 1}@example.com`,
        transactionDate: new Date().toISOString(),
        transactionData: { orderId, total: 24, currency: 'USD' },
      },
    }
  })
}

async function sendBatch(url: string, writeKey: string, items: unknown[]): Promise<ItemResult[] | undefined> {
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const response = await fetch(`${url}/v1/batch`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ writeKey, items }),
        signal: AbortSignal.timeout(10_000),
      })
      if (response.status === 202) return ((await response.json()) as { results: ItemResult[] }).results
      await response.body?.cancel()
    } catch {
      // no answer: send the same items again
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  return undefined
}

export async function sendBurst(
  balancerUrl: string,
  ids: Pick<RunningSandbox, 'directoryId' | 'mailingListId'>,
  writeKey: string,
): Promise<BurstResult> {
  const items = purchases(ids)
  const batches: (typeof items)[] = []
  for (let n = 0; n < items.length; n += PER_BATCH) batches.push(items.slice(n, n + PER_BATCH))
  const answers = await Promise.all(batches.map((batch) => sendBatch(balancerUrl, writeKey, batch)))
  const result: BurstResult = { accepted: 0, duplicate: 0, failed: 0 }
  for (const [n, results] of answers.entries()) {
    if (results === undefined) result.failed += batches[n]?.length ?? 0
    for (const r of results ?? []) {
      if (r.status === 'accepted') result.accepted++
      else if (r.status === 'duplicate') result.duplicate++
      else result.failed++
    }
  }
  return result
}
