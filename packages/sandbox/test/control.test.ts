import { describe, expect, it } from 'vitest'
import { createManualClock, parseSeed } from '../src/index'
import { call, dir, setupSandbox, useSandboxes } from './support'

const fixture = setupSandbox()
const start = useSandboxes()

const control = (method: string, path: string, body?: unknown) =>
  call(fixture.sb, method, `/__sandbox/${path}`, { token: null, ...(body === undefined ? {} : { body }) })

describe('inspection API', () => {
  it('GET /__sandbox/info gives what a client needs', async () => {
    const reply = await control('GET', 'info')
    expect(reply.json).toEqual({
      token: fixture.sb.token,
      datacenter: 'sbx1',
      brandId: 'sandbox',
      directoryId: fixture.sb.directoryId,
      mailingListId: fixture.sb.mailingListId,
      url: fixture.sb.url,
      workflowUrl: fixture.sb.workflowUrl,
    })
  })

  it('GET /__sandbox/state shows contacts, transactions, runs and the request log, but no full token', async () => {
    await call(fixture.sb, 'POST', dir(fixture.sb, '/contacts'), { body: { extRef: 'u1' } })
    await call(fixture.sb, 'GET', '/API/v3/nope')
    const reply = await control('GET', 'state')
    expect(reply.status).toBe(200)
    expect(reply.json.contacts).toHaveLength(1)
    expect(reply.json.requests).toEqual([
      {
        seq: 1,
        time: expect.any(String),
        method: 'POST',
        path: dir(fixture.sb, '/contacts'),
        query: '',
        route: 'createContact',
        status: 200,
        ms: expect.any(Number),
        requestId: expect.any(String),
      },
      {
        seq: 2,
        time: expect.any(String),
        method: 'GET',
        path: '/API/v3/nope',
        query: '',
        route: null,
        status: 404,
        ms: expect.any(Number),
        requestId: expect.any(String),
      },
    ])
    expect(reply.text).not.toContain(fixture.sb.token)
    expect(reply.json.users[0].tokenHint).toBe(`${fixture.sb.token.slice(0, 4)}…`)
  })

  it('does not log control requests or count them against the rate limit', async () => {
    fixture.sb.setRateLimit({ perMinute: 1 })
    for (let i = 0; i < 3; i++) expect((await control('GET', 'state')).status).toBe(200)
    expect(fixture.sb.inspect().requests).toEqual([])
  })

  it('DELETE /__sandbox/requests clears the log', async () => {
    await call(fixture.sb, 'GET', '/API/v3/whoami')
    await control('DELETE', 'requests')
    expect((await control('GET', 'requests')).json).toEqual([])
  })

  it('keeps only the latest requests up to requestLogLimit', async () => {
    const sb = await start({ requestLogLimit: 2 })
    for (let i = 0; i < 4; i++) await call(sb, 'GET', '/API/v3/whoami')
    expect(sb.inspect().requests.map((r) => r.seq)).toEqual([3, 4])
  })
})

describe('control API', () => {
  it('PUT /__sandbox/faults sets rules, GET lists them with counters, DELETE clears them', async () => {
    const put = await control('PUT', 'faults', [{ kind: 'http-error', status: 503, route: 'whoami' }])
    expect(put.json).toEqual([
      { rule: { kind: 'http-error', status: 503, route: 'whoami' }, matched: 0, fired: 0, remaining: null },
    ])
    expect((await call(fixture.sb, 'GET', '/API/v3/whoami')).status).toBe(503)
    expect((await control('GET', 'faults')).json[0].fired).toBe(1)
    await control('DELETE', 'faults')
    expect((await call(fixture.sb, 'GET', '/API/v3/whoami')).status).toBe(200)
  })

  it('answers 400 with the validation message for bad fault rules', async () => {
    const reply = await control('PUT', 'faults', [{ kind: 'latency' }])
    expect(reply.status).toBe(400)
    expect(reply.json).toEqual({
      error: { code: 'INVALID_FAULT_RULE', message: 'Invalid fault rules: faults[0].ms: is required' },
    })
  })

  it('PUT /__sandbox/rate-limit replaces the limits', async () => {
    const reply = await control('PUT', 'rate-limit', { perMinute: 1, retryAfter: false })
    expect(reply.json).toMatchObject({ perMinute: 1, retryAfter: false })
    await call(fixture.sb, 'GET', '/API/v3/whoami')
    expect((await call(fixture.sb, 'GET', '/API/v3/whoami')).status).toBe(429)
  })

  it('PUT /__sandbox/behaviour switches the open-question behaviours', async () => {
    const reply = await control('PUT', 'behaviour', { workflowStatus: 200 })
    expect(reply.json.workflowStatus).toBe(200)
    expect((await call(fixture.sb, 'POST', fixture.sb.workflowUrl, { body: {} })).status).toBe(200)
    const bad = await control('PUT', 'behaviour', { workflowStatus: 201, colour: 'red' })
    expect(bad.json.error.message).toMatchInlineSnapshot(`
      "Invalid behaviour options:
        - behaviour.colour: is not a behaviour option (dialect, mergeMatchId, overwriteBlank, embeddedDataUpdate, searchCaseSensitive, searchDepthLimit, maxPageSize, searchNextPage, duplicateTransactionKey, maxTransactionsPerRequest, requireListMembership, workflowStatus, workflowMaxBytes, wrongDatacenter, coerceDataToStrings, maxBodyBytes)
        - behaviour.workflowStatus: must be one of 200, 202 (Received: number 201)"
    `)
  })

  it('POST /__sandbox/seed adds records without clearing anything', async () => {
    await call(fixture.sb, 'POST', dir(fixture.sb, '/contacts'), { body: { extRef: 'kept' } })
    const reply = await control('POST', 'seed', {
      users: [{ token: 'second-user-token', brandId: 'other' }],
      directories: [
        {
          id: 'POOL_second00000000',
          name: 'Second',
          mergeRules: [['phone']],
          mailingLists: [{ id: 'CG_second000000000', name: 'L' }],
          contacts: [{ phone: '1', mailingLists: ['L'] }],
        },
      ],
      workflows: [{ urlTokenId: '11111111-2222-4333-8444-555555555555', auth: 'none' }],
    })
    expect(reply.json).toEqual({
      tokens: ['second-user-token'],
      directoryIds: ['POOL_second00000000'],
      mailingListIds: ['CG_second000000000'],
      contactIds: [expect.stringMatching(/^CID_/)],
      workflowUrlTokenIds: ['11111111-2222-4333-8444-555555555555'],
    })
    const snapshot = fixture.sb.inspect()
    expect(snapshot.contacts.map((c) => c.extRef ?? c.phone)).toEqual(['kept', '1'])
    expect(snapshot.mailingLists.find((l) => l.id === 'CG_second000000000')?.members).toEqual({
      [reply.json.contactIds[0]]: expect.stringMatching(/^CGC_/),
    })
    expect(
      (await call(fixture.sb, 'GET', '/API/v3/whoami', { token: 'second-user-token' })).json.result.brandId,
    ).toBe('other')
    expect(fixture.sb.directoryId).not.toBe('POOL_second00000000')
  })

  it('POST /__sandbox/reset restores the start state, faults and limits', async () => {
    const before = fixture.sb.directoryId
    await call(fixture.sb, 'POST', dir(fixture.sb, '/contacts'), { body: { extRef: 'gone' } })
    fixture.sb.setFaults([{ kind: 'http-error', status: 500 }])
    const reply = await control('POST', 'reset')
    expect(reply.json.directoryId).toBe(before)
    expect(fixture.sb.inspect().contacts).toEqual([])
    expect(fixture.sb.inspect().faults).toEqual([])
    expect((await call(fixture.sb, 'GET', '/API/v3/whoami')).status).toBe(200)
  })

  it('POST /__sandbox/reset with a seed starts from that seed', async () => {
    const reply = await control('POST', 'reset', {
      datacenter: 'fra1',
      directories: [{ id: 'POOL_fromreset00000', name: 'R' }],
    })
    expect(reply.json).toMatchObject({
      datacenter: 'fra1',
      directoryId: 'POOL_fromreset00000',
      mailingListId: '',
    })
    expect(fixture.sb.datacenter).toBe('fra1')
  })

  it.each([
    ['GET', 'nothing', 404, 'NOT_FOUND'],
    ['POST', 'state', 405, 'METHOD_NOT_ALLOWED'],
  ])('%s /__sandbox/%s answers %i', async (method, path, status, code) => {
    const reply = await control(method, path)
    expect(reply.status).toBe(status)
    expect(reply.json.error.code).toBe(code)
  })

  it('answers 400 for an invalid seed', async () => {
    const reply = await control('POST', 'seed', {
      directories: [{ mergeRules: [['email'], ['phone'], ['extRef'], ['firstName']] }],
    })
    expect(reply.status).toBe(400)
    expect(reply.json.error).toEqual({
      code: 'INVALID_SEED',
      message:
        'Invalid seed: seed.directories[0].mergeRules: at most 3 merge rules are allowed (Received: array of 4)',
    })
  })
})

describe('the HTML page', () => {
  it('lists contacts, transactions and workflow runs with every value escaped', async () => {
    const evil = '<script>alert("x")</script>'
    const contactId = (
      await call(fixture.sb, 'POST', dir(fixture.sb, '/contacts'), {
        body: { extRef: evil, embeddedData: { note: "'&'" } },
      })
    ).json.result.id
    await call(fixture.sb, 'POST', dir(fixture.sb, '/transactions'), {
      body: {
        [evil]: {
          contactId,
          mailingListId: fixture.sb.mailingListId,
          transactionDate: '2024-01-01 00:00:00',
          data: { x: evil },
        },
      },
    })
    await call(fixture.sb, 'POST', fixture.sb.workflowUrl, { body: { evil } })
    const reply = await call(fixture.sb, 'GET', '/', { token: null })
    expect(reply.status).toBe(200)
    expect(reply.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(reply.text).not.toContain('<script>')
    expect(reply.text).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;')
    expect(reply.text).toContain('&#39;&amp;&#39;')
    expect(reply.text).toContain('<h2>Contacts (1)</h2>')
    expect(reply.text).toContain('<h2>Transactions (1)</h2>')
    expect(reply.text).toContain('<h2>Workflow runs (1)</h2>')
    expect(reply.text).not.toContain(fixture.sb.token)
  })
})

describe('deterministic ids', () => {
  it('gives the same ids, request ids and dates for the same randomSeed and clock', async () => {
    const run = async () => {
      const clock = createManualClock(Date.UTC(2024, 5, 1))
      const sb = await start({ randomSeed: 1234, clock: clock.now })
      const created = await call(sb, 'POST', dir(sb, '/contacts'), { body: { extRef: 'u1' } })
      await call(sb, 'POST', dir(sb, '/transactions'), {
        body: {
          k: {
            contactId: created.json.result.id,
            mailingListId: sb.mailingListId,
            transactionDate: '2024-06-01 00:00:00',
          },
        },
      })
      const { requests, ...state } = sb.inspect()
      return { token: sb.token, state, requestIds: requests.map((r) => r.requestId) }
    }
    const first = await run()
    expect(await run()).toEqual(first)
    expect(first.state.contacts[0]?.creationDate).toBe('2024-06-01T00:00:00Z')
  })

  it('differs for another randomSeed', async () => {
    const a = await start({ randomSeed: 1 })
    const b = await start({ randomSeed: 2 })
    expect(a.directoryId).not.toBe(b.directoryId)
    expect(a.inspect().randomSeed).toBe(1)
  })
})

describe('parseSeed', () => {
  it('lists every bad key of a seed', () => {
    expect(() =>
      parseSeed({
        datacenter: 'IAD 1',
        users: [{ token: 'short' }],
        directories: [{ id: 'POOL/x', mergeRules: [['shoeSize'], []], contacts: [{ email: 3 }] }],
        workflows: [{ urlTokenId: 'abc', auth: 'oauth' }],
      }),
    ).toThrowErrorMatchingInlineSnapshot(`
      [SandboxError: Invalid seed:
        - seed.datacenter: must be lower-case letters, digits or "-" (Received: string "IAD 1")
        - seed.users[0].token: must be 8 to 200 visible ASCII characters (Received: string "5 characters")
        - seed.directories[0].id: must be letters, digits, "_" or "-" (Received: string "POOL/x")
        - seed.directories[0].mergeRules[0][0]: must be one of firstName, lastName, email, phone, extRef (Received: string "shoeSize")
        - seed.directories[0].mergeRules[1]: must be a non-empty array of fields (firstName, lastName, email, phone, extRef) (Received: array of 0)
        - seed.directories[0].contacts[0].email: must be a string (Received: number 3)
        - seed.workflows[0].urlTokenId: must be a UUID (Received: string "abc")
        - seed.workflows[0].auth: must be "none" or "token" (Received: string "oauth")]
    `)
  })

  it('refuses a contact that names a mailing list the directory does not have, writing nothing', async () => {
    const before = fixture.sb.inspect().directories.length
    expect(() =>
      fixture.sb.seed({
        directories: [
          {
            name: 'D',
            mailingLists: [{ name: 'Yes' }],
            contacts: [{ email: 'a@x.io', mailingLists: ['Yes', 'Nope'] }],
          },
        ],
      }),
    ).toThrowErrorMatchingInlineSnapshot(
      `[SandboxError: Invalid seed: seed.directories[0].contacts[0].mailingLists: no mailing list with this id or name in the directory (Received: "Nope")]`,
    )
    expect(fixture.sb.inspect().directories).toHaveLength(before)
  })

  it('refuses invalid options at start with the option named', async () => {
    await expect(start({ requestLogLimit: -1, persistFile: '' })).rejects.toThrowErrorMatchingInlineSnapshot(`
      [SandboxError: Invalid sandbox options:
        - requestLogLimit: must be an integer of at least 0 (Received: number -1)
        - persistFile: must be a file path (Received: string "")]
    `)
    await expect(start({ port: 70000 })).rejects.toThrow(
      'port: must be an integer from 0 to 65535 (Received: number 70000)',
    )
  })
})
