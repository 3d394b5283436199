// Settings, probes, metrics, dead letters (admin API and CLI), the token check, and the CLI's errors.
import { afterEach, describe, expect, it } from 'vitest'
import { SETTINGS_VERSION } from '@qualtrics-relay/core'
import { main, type CliIo } from '../src/cli'
import {
  ADMIN_TOKEN,
  contactItem,
  delivered,
  FAST_DELIVERY,
  messageId,
  postBatch,
  purchaseItem,
  request,
  SITE,
  startHarness,
  waitFor,
  type Harness,
} from './helpers'

let harness: Harness | undefined
afterEach(async () => {
  if (harness) {
    const { logs, sandbox } = harness
    await harness.close()
    expect(logs.text()).not.toContain(sandbox.token)
  }
  harness = undefined
})

const admin = (h: Harness, path: string, init: RequestInit = {}) =>
  request(`${h.url}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
  })

function captureIo(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []
  const stderr: string[] = []
  return {
    stdout,
    stderr,
    out: (l) => void stdout.push(l),
    err: (l) => void stderr.push(l),
    env: { RELAY_ADMIN_TOKEN: ADMIN_TOKEN },
  }
}

describe('GET /v1/settings', () => {
  it('serves the mappings with parsed triggers and compiled programs, its format version, a strong ETag, and 304 when unchanged', async () => {
    harness = await startHarness()
    const h = harness
    const answer = await request(`${h.url}/v1/settings?writeKey=wk_test`, { headers: { Origin: SITE } })
    expect(answer.status).toBe(200)
    expect(answer.headers.get('cache-control')).toBe('no-cache')
    const etag = answer.headers.get('etag')
    expect(etag).toMatch(/^"[^"]+"$/)
    const settings = answer.json as {
      version: number
      writeKey: string
      mappings: { id: string; trigger: unknown; program: unknown }[]
      workflowOrigins?: string[]
    }
    expect(settings.version).toBe(SETTINGS_VERSION)
    expect(settings.mappings[0]?.program).toEqual(expect.any(Object))
    expect(settings.writeKey).toBe('wk_test')
    expect(settings.mappings.map((m) => m.id)).toEqual(['contact', 'purchase', 'feedback'])
    expect(settings.mappings[0]?.trigger).toEqual(expect.any(Object))
    expect(settings.workflowOrigins).toEqual([new URL(h.sandbox.url).origin])
    expect(answer.text).not.toContain(h.sandbox.token)

    const again = await request(`${h.url}/v1/settings?writeKey=wk_test`, {
      headers: { 'If-None-Match': etag ?? '' },
    })
    expect(again.status).toBe(304)
    expect(again.headers.get('etag')).toBe(etag)
    const changed = await request(`${h.url}/v1/settings?writeKey=wk_test`, {
      headers: { 'If-None-Match': '"other"' },
    })
    expect(changed.status).toBe(200)
  })
})

describe('probes and metrics', () => {
  it('stays ready while Qualtrics fails: its state is in the body and in metrics, not the status', async () => {
    harness = await startHarness({ config: { readiness: { cacheMs: 0 } } })
    const h = harness
    expect((await request(`${h.url}/healthz`)).json).toEqual({ status: 'ok' })
    const ready = await request(`${h.url}/readyz`)
    expect(ready.status).toBe(200)
    expect(ready.json).toEqual({
      status: 'ready',
      mode: 'qualtrics',
      checks: { storage: { ok: true } },
      qualtrics: { ok: true },
      qualtricsCircuit: { state: 'closed', failedProbes: 0 },
    })
    expect((await request(`${h.url}/metrics`)).text).toMatch(/^relay_qualtrics_up 1$/m)

    // Qualtrics down (5xx) and the token refused: the queue should take the events, so still ready.
    h.sandbox.setFaults([{ kind: 'http-error', status: 503, route: 'whoami' }])
    const down = await request(`${h.url}/readyz`)
    expect(down.status).toBe(200)
    expect(down.json).toMatchObject({ status: 'ready', qualtrics: { ok: false } })
    expect((await request(`${h.url}/metrics`)).text).toMatch(/^relay_qualtrics_up 0$/m)
    h.sandbox.setFaults([{ kind: 'http-error', status: 401, route: 'whoami', errorCode: 'AUTH_FAILED' }])
    const refused = await request(`${h.url}/readyz`)
    expect(refused.status).toBe(200)
    expect(refused.json).toMatchObject({ qualtrics: { ok: false, code: 'QUALTRICS_API_ERROR' } })
    expect(refused.text).not.toContain(h.sandbox.token)
    expect((await postBatch(h.url, { writeKey: 'wk_test', items: [contactItem(h.sandbox)] })).status).toBe(
      202,
    )
  })

  it('counts accepted, rejected, delivered items and Qualtrics calls', async () => {
    harness = await startHarness()
    const h = harness
    const item = purchaseItem(h.sandbox)
    await postBatch(h.url, {
      writeKey: 'wk_test',
      items: [item, contactItem(h.sandbox, messageId(), { directoryId: 'POOL_other' })],
    })
    await delivered(h.url, item.messageId)
    const metrics = await request(`${h.url}/metrics`)
    expect(metrics.status).toBe(200)
    expect(metrics.headers.get('content-type')).toContain('text/plain')
    const text = metrics.text
    expect(text).toMatch(
      /relay_items_accepted_total\{write_key="Test site",action="upsertContactTransaction"\} 1/,
    )
    expect(text).toMatch(/relay_items_rejected_total\{write_key="Test site",code="FORBIDDEN"\} 1/)
    expect(text).toMatch(/relay_items_delivered_total\{action="upsertContactTransaction"\} 1/)
    expect(text).toMatch(
      /relay_qualtrics_requests_total\{method="POST",endpoint="\/API\/v3\/directories\/\{id\}\/transactions",status="200"\} 1/,
    )
    expect(text).toMatch(/relay_queue_depth\{state="delivered"\} 1/)
    expect(text).toContain('relay_delivery_latency_seconds_bucket')
    expect(text).toContain(
      'relay_http_request_duration_seconds_bucket{le="0.001",method="POST",route="/v1/batch",status="202"}',
    )
  })

  it('shows the Qualtrics circuit and the oldest undelivered item’s age in /readyz and /metrics through an outage', async () => {
    harness = await startHarness({
      config: { readiness: { cacheMs: 0 }, delivery: { ...FAST_DELIVERY, circuitFailureThreshold: 2 } },
    })
    const h = harness
    const metric = async (name: string) => {
      const line = (await request(`${h.url}/metrics`)).text.split('\n').find((l) => l.startsWith(`${name} `))
      return line === undefined ? undefined : Number(line.slice(name.length + 1))
    }
    expect(await metric('relay_qualtrics_circuit_state{state="closed"}')).toBe(1)
    expect(await metric('relay_oldest_pending_age_seconds')).toBe(0)

    // Every Qualtrics route answers 503.
    h.sandbox.setFaults([{ kind: 'http-error', status: 503 }])
    const item = purchaseItem(h.sandbox)
    await postBatch(h.url, { writeKey: 'wk_test', items: [item] })
    await waitFor(async () =>
      (await metric('relay_qualtrics_circuit_state{state="closed"}')) === 0 ? true : undefined,
    )
    const body = (await request(`${h.url}/readyz`)).json as { qualtricsCircuit: Record<string, unknown> }
    expect(body.qualtricsCircuit).toMatchObject({
      state: expect.stringMatching(/^(open|probing)$/),
      openedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      nextProbeAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    })
    expect(await metric('relay_qualtrics_circuit_opened_total')).toBe(1)
    await waitFor(async () => ((await metric('relay_oldest_pending_age_seconds')) ?? 0) > 0 || undefined)
    // held back, not spending attempts
    const status = (await request(`${h.url}/v1/messages/${item.messageId}?writeKey=wk_test`)).json as {
      items: { state: string }[]
    }
    expect(status.items[0]?.state).not.toBe('dead')

    h.sandbox.setFaults([])
    await delivered(h.url, item.messageId)
    expect(await metric('relay_qualtrics_circuit_state{state="closed"}')).toBe(1)
    expect(await metric('relay_oldest_pending_age_seconds')).toBe(0)
    expect((await request(`${h.url}/readyz`)).json).toMatchObject({
      qualtricsCircuit: { state: 'closed', failedProbes: 0 },
    })
    const circuitLines = h.logs.lines
      .map((l) => JSON.parse(l) as { msg: string; level: number })
      .filter((l) => /circuit (open|closed)/.test(l.msg))
      .map((l) => l.msg)
    expect(circuitLines).toEqual([
      'Qualtrics calls fail across the board (5xx, timeouts, network): circuit open, sending stopped; probing with one request',
      'Qualtrics answers again: circuit closed, sending resumed',
    ])
  })

  it('shows its own rate budget in /metrics (scope "instance" on SQLite): full when idle, paused and halved after a 429', async () => {
    harness = await startHarness({ config: { delivery: { ...FAST_DELIVERY, rateLimitRecoveryMs: 600_000 } } })
    const h = harness
    const gauge = async (name: string) => {
      const prefix = `relay_rate_budget_${name}{scope="instance"} `
      const line = (await request(`${h.url}/metrics`)).text.split('\n').find((l) => l.startsWith(prefix))
      return line === undefined ? undefined : Number(line.slice(prefix.length))
    }
    expect(await gauge('tokens')).toBe(FAST_DELIVERY.burst)
    expect(await gauge('requests_per_minute')).toBe(FAST_DELIVERY.requestsPerMinute)
    expect(await gauge('paused_until_seconds')).toBe(0)

    h.sandbox.setFaults([{ kind: 'rate-limit', retryAfterSeconds: 2, times: 1 }])
    const item = purchaseItem(h.sandbox)
    await postBatch(h.url, { writeKey: 'wk_test', items: [item] })
    const until = await waitFor(async () => ((await gauge('paused_until_seconds')) ?? 0) || undefined)
    expect(until).toBeGreaterThan(Date.now() / 1000)
    const rate = (await gauge('requests_per_minute')) ?? 0
    expect(rate).toBeGreaterThanOrEqual(FAST_DELIVERY.requestsPerMinute / 2)
    expect(rate).toBeLessThan(FAST_DELIVERY.requestsPerMinute * 0.6)
    await delivered(h.url, item.messageId)
  })

  it('writes one JSON log line per request with method, route, status, ms and request id', async () => {
    harness = await startHarness()
    const h = harness
    await request(`${h.url}/v1/settings?writeKey=wk_test`, { headers: { 'X-Request-Id': 'req-abc-1' } })
    const line = await waitFor(() =>
      h.logs.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.requestId === 'req-abc-1'),
    )
    expect(line).toMatchObject({
      msg: 'request',
      method: 'GET',
      route: '/v1/settings',
      status: 200,
      ms: expect.any(Number),
    })
  })

  it('logs and measures the full mounted route also when the request is refused', async () => {
    harness = await startHarness()
    const h = harness
    const json = { 'Content-Type': 'application/json' }
    const calls: [string, string, RequestInit, number][] = [
      [
        'refused-batch',
        '/v1/batch',
        { method: 'POST', headers: json, body: '{"writeKey":"wk_test","items":[]}' },
        400,
      ],
      ['malformed-batch', '/v1/batch', { method: 'POST', headers: json, body: '{bad' }, 400],
      ['unknown-message', '/v1/messages/no-such-message?writeKey=wk_test', {}, 404],
      ['unknown-key', '/v1/settings?writeKey=wk_nope', {}, 401],
      [
        'bad-replay',
        '/admin/dead-letters/replay',
        { method: 'POST', headers: { ...json, Authorization: `Bearer ${ADMIN_TOKEN}` }, body: '{"ids":"x"}' },
        400,
      ],
    ]
    for (const [id, path, init, status] of calls) {
      const headers = { ...(init.headers as Record<string, string> | undefined), 'X-Request-Id': id }
      expect((await request(`${h.url}${path}`, { ...init, headers })).status).toBe(status)
    }
    const routes = await waitFor(() => {
      const lines = h.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>)
      const found = calls.map(([id]) => lines.find((l) => l.requestId === id && l.msg === 'request'))
      return found.every(Boolean) ? found.map((l) => l?.route) : undefined
    })
    expect(routes).toEqual([
      '/v1/batch',
      '/v1/batch',
      '/v1/messages/:messageId',
      '/v1/settings',
      '/admin/dead-letters/replay',
    ])
    const metrics = (await request(`${h.url}/metrics`)).text
    expect(metrics).toContain('method="POST",route="/v1/batch",status="400"')
    expect(metrics).not.toMatch(/route="\/(batch|settings|messages|dead-letters)/)
  })
})

describe('dead letters', () => {
  it('lists dead letters and replays them through the admin API and the CLI', async () => {
    harness = await startHarness()
    const h = harness
    h.sandbox.setFaults([
      { kind: 'http-error', status: 400, route: 'createContact', errorCode: 'BAD_REQUEST' },
    ])
    const items = [
      contactItem(h.sandbox, messageId(), { extRef: 'dl-1', email: 'dl-1@example.com' }),
      contactItem(h.sandbox, messageId(), { extRef: 'dl-2', email: 'dl-2@example.com' }),
    ]
    expect((await postBatch(h.url, { writeKey: 'wk_test', items })).status).toBe(202)

    const list = await waitFor(async () => {
      const answer = await admin(h, '/admin/dead-letters')
      const body = answer.json as {
        deadLetters: { id: string; messageId: string; lastError?: { code: string } }[]
      }
      return body.deadLetters.length === 2 ? body.deadLetters : undefined
    })
    expect(list.map((d) => d.lastError?.code)).toEqual(['QUALTRICS_API_ERROR', 'QUALTRICS_API_ERROR'])
    const status = await request(`${h.url}/v1/messages/${items[0]?.messageId}?writeKey=wk_test`)
    expect(status.json).toMatchObject({
      items: [{ state: 'dead', lastError: expect.stringContaining('400') }],
    })

    const metrics = (await request(`${h.url}/metrics`)).text
    expect(metrics).toMatch(
      /relay_items_dead_lettered_total\{action="addContactToXmd",code="QUALTRICS_API_ERROR"\} 2/,
    )
    expect(metrics).toMatch(/relay_queue_depth\{state="dead"\} 2/)

    h.sandbox.setFaults([])
    // The CLI talks to the same admin API.
    const io = captureIo()
    expect(await main(['dead-letters', 'list', '--url', h.url], io)).toBe(0)
    expect(io.stdout).toHaveLength(2)
    expect(io.stdout.join('\n')).toContain(list[0]?.id)

    const replayOne = captureIo()
    expect(await main(['dead-letters', 'replay', list[0]?.id ?? '', '--url', h.url], replayOne)).toBe(0)
    expect(replayOne.stdout).toEqual(['replayed 1 dead letter of 1 asked for'])
    // An id that is not (or no longer) a dead letter: said, and the exit code says it too.
    const unknown = captureIo()
    expect(
      await main(['dead-letters', 'replay', list[0]?.id ?? '', 'no-such-id', '--url', h.url], unknown),
    ).toBe(1)
    expect(unknown.stdout).toEqual(['replayed 0 dead letters of 2 asked for'])
    expect(unknown.stderr).toEqual([
      'error: 2 ids given are not a dead letter (unknown, or already replayed or delivered); see "dead-letters list"',
    ])
    const replayAll = await admin(h, '/admin/dead-letters/replay', { method: 'POST', body: '{}' })
    expect(replayAll.json).toEqual({ replayed: 1 })

    for (const item of items) await delivered(h.url, item.messageId)
    expect(h.sandbox.inspect().contacts.filter((c) => c.extRef?.startsWith('dl-'))).toHaveLength(2)
  })
})

describe('token check', () => {
  it('GET /admin/check shows whoami and the directories, never the token', async () => {
    harness = await startHarness()
    const h = harness
    const answer = await admin(h, '/admin/check')
    expect(answer.status).toBe(200)
    const body = answer.json as { whoami: { userName: string }; directories: { directoryId: string }[] }
    expect(body.directories.map((d) => d.directoryId)).toContain(h.sandbox.directoryId)
    expect(answer.text).not.toContain(h.sandbox.token)
  })
})

describe('CLI', () => {
  it.each([
    [['--nope'], "error: Unknown option '--nope'"],
    [['frobnicate'], 'error: unknown command "frobnicate"'],
    [['check', '--url', 'http://x'], 'error: --url cannot be used with "check"'],
    [['dead-letters', 'replay'], 'error: name the dead letters to replay, or --all to replay every one'],
    [['dead-letters', 'replay', '--all', 'abc'], 'error: give either --all or dead-letter ids, not both'],
  ])('refuses %j with a clear error', async (argv, message) => {
    const io = captureIo()
    expect(await main(argv, io)).toBe(2)
    expect(io.stderr[0]).toContain(message)
  })

  it('prints the usage with --help', async () => {
    const io = captureIo()
    expect(await main(['--help'], io)).toBe(0)
    expect(io.stdout[0]).toContain('qualtrics-relay-proxy dead-letters replay')
  })

  it('checks the token against the sandbox in sandbox mode, naming the mode', async () => {
    const io = captureIo()
    expect(await main(['check', '--sandbox'], io)).toBe(0)
    expect(io.stdout[0]).toBe('mode: sandbox')
    expect(io.stdout[1]).toMatch(/^token ok: .* \[sandbox\]$/)
    expect(io.stdout[2]).toMatch(/^1 directory:$/)
    expect(io.stdout[3]).toMatch(/^ {2}POOL_\w+ {2}.*, \d+ contacts?$/)
  })

  it('never checks in sandbox mode unless asked: without a token it says what is missing', async () => {
    const io = captureIo()
    expect(await main(['check'], io)).toBe(1)
    expect(io.stderr.join('\n')).toContain('env.QUALTRICS_API_TOKEN: is required in mode "qualtrics"')
  })
})
