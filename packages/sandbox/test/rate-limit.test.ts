import { describe, expect, it } from 'vitest'
import { createManualClock, parseRateLimitOptions } from '../src/index'
import { call, dir, useSandboxes } from './support'

const start = useSandboxes()

describe('brand rate limit (leaky bucket)', () => {
  it('answers 429 with the envelope and Retry-After once the bucket is full, and again 200 once it drained', async () => {
    const clock = createManualClock()
    const sb = await start({ clock: clock.now, rateLimit: { perMinute: 3 } })
    for (let i = 0; i < 3; i++) expect((await call(sb, 'GET', '/API/v3/whoami')).status).toBe(200)
    const limited = await call(sb, 'GET', '/API/v3/whoami')
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('20')
    expect(limited.json.meta).toEqual({
      httpStatus: '429 - Too Many Requests',
      error: {
        errorCode: 'TOO_MANY_REQUESTS',
        errorMessage:
          'Too many requests: the limit of 3 requests per minute for this brand was reached. Try again later.',
      },
      requestId: expect.any(String),
    })
    clock.advance(19_000)
    expect((await call(sb, 'GET', '/API/v3/whoami')).status).toBe(429)
    clock.advance(1_000)
    expect((await call(sb, 'GET', '/API/v3/whoami')).status).toBe(200)
    expect((await call(sb, 'GET', '/API/v3/whoami')).status).toBe(429)
    expect(
      sb
        .inspect()
        .requests.filter((r) => r.rateLimited)
        .map((r) => r.status),
    ).toEqual([429, 429, 429])
  })

  it('defaults to 3,000 requests per minute', async () => {
    const sb = await start()
    expect(sb.inspect().rateLimit).toEqual({
      enabled: true,
      perMinute: 3000,
      burst: 3000,
      retryAfter: true,
      endpoints: [],
      workflowPerMinute: 3000,
    })
  })

  it('leaves out Retry-After when told to', async () => {
    const clock = createManualClock()
    const sb = await start({ clock: clock.now, rateLimit: { perMinute: 1, retryAfter: false } })
    await call(sb, 'GET', '/API/v3/whoami')
    const limited = await call(sb, 'GET', '/API/v3/whoami')
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBeNull()
  })

  it('keeps one bucket per brand', async () => {
    const clock = createManualClock()
    const sb = await start({
      clock: clock.now,
      rateLimit: { perMinute: 1 },
      seed: {
        users: [
          { token: 'token-brand-a-1', brandId: 'a' },
          { token: 'token-brand-a-2', brandId: 'a' },
          { token: 'token-brand-b-1', brandId: 'b' },
        ],
      },
    })
    expect((await call(sb, 'GET', '/API/v3/whoami', { token: 'token-brand-a-1' })).status).toBe(200)
    expect((await call(sb, 'GET', '/API/v3/whoami', { token: 'token-brand-a-2' })).status).toBe(429)
    expect((await call(sb, 'GET', '/API/v3/whoami', { token: 'token-brand-b-1' })).status).toBe(200)
  })

  it('does not count requests that fail authentication', async () => {
    const clock = createManualClock()
    const sb = await start({ clock: clock.now, rateLimit: { perMinute: 1 } })
    expect((await call(sb, 'GET', '/API/v3/whoami', { token: null })).status).toBe(401)
    expect((await call(sb, 'GET', '/API/v3/whoami')).status).toBe(200)
  })

  it('allows a burst smaller than the per-minute rate', async () => {
    const clock = createManualClock()
    const sb = await start({ clock: clock.now, rateLimit: { perMinute: 60, burst: 2 } })
    expect((await call(sb, 'GET', '/API/v3/whoami')).status).toBe(200)
    expect((await call(sb, 'GET', '/API/v3/whoami')).status).toBe(200)
    const limited = await call(sb, 'GET', '/API/v3/whoami')
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('1')
    clock.advance(1_000)
    expect((await call(sb, 'GET', '/API/v3/whoami')).status).toBe(200)
  })
})

describe('per-endpoint limits', () => {
  it('limits one route by name besides the brand limit', async () => {
    const clock = createManualClock()
    const sb = await start({
      clock: clock.now,
      rateLimit: { endpoints: [{ route: 'createContact', perMinute: 2 }] },
    })
    const create = () => call(sb, 'POST', dir(sb, '/contacts'), { body: {} })
    expect((await create()).status).toBe(200)
    expect((await create()).status).toBe(200)
    const limited = await create()
    expect(limited.status).toBe(429)
    expect(limited.json.meta.error.errorMessage).toBe(
      'Too many requests: the limit of 2 requests per minute for this endpoint was reached. Try again later.',
    )
    expect(limited.headers.get('retry-after')).toBe('30')
    expect((await call(sb, 'GET', dir(sb, '/contacts'))).status).toBe(200)
    expect(sb.inspect().contacts).toHaveLength(2)
  })

  it('limits by method and path glob', async () => {
    const clock = createManualClock()
    const sb = await start({
      clock: clock.now,
      rateLimit: { endpoints: [{ method: 'POST', path: '/API/v3/directories/*/contacts/**', perMinute: 1 }] },
    })
    const search = () =>
      call(sb, 'POST', dir(sb, '/contacts/search'), {
        body: { filter: { filterType: 'email', comparison: 'eq', value: 'a' } },
      })
    expect((await search()).status).toBe(200)
    expect((await search()).status).toBe(429)
    expect((await call(sb, 'POST', dir(sb, '/contacts'), { body: {} })).status).toBe(200)
  })
})

describe('changing limits at run time', () => {
  it('replaces the configuration and empties the buckets', async () => {
    const clock = createManualClock()
    const sb = await start({ clock: clock.now, rateLimit: { perMinute: 1 } })
    await call(sb, 'GET', '/API/v3/whoami')
    expect((await call(sb, 'GET', '/API/v3/whoami')).status).toBe(429)
    sb.setRateLimit({ perMinute: 2 })
    expect((await call(sb, 'GET', '/API/v3/whoami')).status).toBe(200)
    expect((await call(sb, 'GET', '/API/v3/whoami')).status).toBe(200)
    expect((await call(sb, 'GET', '/API/v3/whoami')).status).toBe(429)
    sb.setRateLimit({ enabled: false })
    for (let i = 0; i < 5; i++) expect((await call(sb, 'GET', '/API/v3/whoami')).status).toBe(200)
  })

  it('limits JSON events per workflow trigger', async () => {
    const clock = createManualClock()
    const sb = await start({ clock: clock.now, rateLimit: { workflowPerMinute: 1 } })
    expect((await call(sb, 'POST', sb.workflowUrl, { body: {} })).status).toBe(202)
    const limited = await call(sb, 'POST', sb.workflowUrl, { body: {} })
    expect(limited.status).toBe(429)
    expect(limited.json.meta.error.errorMessage).toContain('for this workflow trigger')
    expect((await call(sb, 'GET', '/API/v3/whoami')).status).toBe(200)
  })
})

describe('parseRateLimitOptions', () => {
  it('lists every bad key with what it received', () => {
    expect(() => parseRateLimitOptions({ perMinute: 0, retryAfter: 'yes', endpoints: [{ route: 'nope' }] }))
      .toThrowErrorMatchingInlineSnapshot(`
      [SandboxError: Invalid rate limit:
        - rateLimit.retryAfter: must be a boolean (Received: string "yes")
        - rateLimit.perMinute: must be an integer at least 1 (Received: number 0)
        - rateLimit.endpoints[0].perMinute: is required
        - rateLimit.endpoints[0].route: must be a route name or a list of them (whoami, listDirectories, listContacts, createContact, searchContacts, getContact, updateContact, listContactTransactions, listMailingLists, createMailingList, getMailingList, listMailingListContacts, createMailingListContact, createTransactions, getTransaction, updateTransaction, listTransactionBatches, createTransactionBatch, getTransactionBatch, listBatchTransactions, addBatchTransactions, triggerWorkflow) (Received: string "nope")]
    `)
  })
})
