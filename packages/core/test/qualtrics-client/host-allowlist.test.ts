import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HostNotAllowedError, createQualtricsClient, parseAllowedUrl } from '../../src/server/qualtrics'
import { recordingFetch, rejectionOf, startTestServer, type TestServer } from './helpers'

const TOKEN = 'tok_AllowlistSecret_42'

const ALLOWED = [
  'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=93b4c9ad',
  'https://fra1.qualtrics.com/API/v3/whoami',
  'https://cornell.ca1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=x',
  'HTTPS://IAD1.QUALTRICS.COM/API/v3/whoami',
  'https://iad1.qualtrics.com:443/API/v3/whoami',
]

const REFUSED: [url: string, reason: RegExp][] = [
  ['http://iad1.qualtrics.com/API/v3/whoami', /scheme is http:/],
  ['https://qualtrics.com/API/v3/whoami', /qualtrics\.com is not a host under qualtrics\.com/],
  ['https://qualtrics.com.evil.test/API/v3/whoami', /qualtrics\.com\.evil\.test is not a host/],
  ['https://evil.test/qualtrics.com', /evil\.test is not a host/],
  ['https://evil.test/?host=iad1.qualtrics.com', /evil\.test is not a host/],
  ['https://iad1.qualtrics.com@evil.test/x', /user info/],
  ['https://user:pass@iad1.qualtrics.com/x', /user info/],
  ['https://evil.test\\@iad1.qualtrics.com/x', /evil\.test is not a host/],
  ['https://iad1.qualtrics.com%2eevil.test/x', /iad1\.qualtrics\.com\.evil\.test is not a host/],
  ['https://evilqualtrics.com/x', /evilqualtrics\.com is not a host/],
  ['https://iad1.qualtrics.com./x', /is not a host/],
  ['https://iad1.qualtrics.com:8443/x', /port 8443/],
  ['https://52.1.2.3/x', /52\.1\.2\.3 is not a host/],
  ['https://0x7f.1/x', /127\.0\.0\.1 is not a host/],
  ['https://[::1]/x', /\[::1\] is not a host/],
  ['ftp://iad1.qualtrics.com/x', /scheme is ftp:/],
  ['javascript:alert(1)', /scheme is javascript:/],
  ['//iad1.qualtrics.com/x', /not a valid absolute URL/],
  ['not a url', /not a valid absolute URL/],
  ['https://iad1_x.qualtrics.com/x', /is not a host under qualtrics\.com/],
]

describe('host allowlist (pure)', () => {
  it.each(ALLOWED)('lets the token go to %s', (url) => {
    expect(parseAllowedUrl(url, undefined, 'the URL').hostname).toMatch(/\.qualtrics\.com$/)
  })

  it.each(REFUSED)('refuses %s', (url, reason) => {
    expect(() => parseAllowedUrl(url, undefined, 'the URL')).toThrow(reason)
  })

  it('allows the configured origin and nothing near it', () => {
    const origin = 'http://127.0.0.1:4010'
    expect(parseAllowedUrl('http://127.0.0.1:4010/inbound-event/x', origin, 'the URL').origin).toBe(origin)
    for (const near of [
      'http://127.0.0.1:4011/x',
      'https://127.0.0.1:4010/x',
      'http://localhost:4010/x',
      'http://u:p@127.0.0.1:4010/x',
    ]) {
      expect(() => parseAllowedUrl(near, origin, 'the URL')).toThrow(HostNotAllowedError)
    }
  })

  it('names the refused origin but never the query or user info', () => {
    expect(() =>
      parseAllowedUrl(
        'https://alice:hunter2@evil.test/path?urlTokenId=secret-id',
        undefined,
        'the workflow URL',
      ),
    ).toThrowErrorMatchingInlineSnapshot(
      `[HostNotAllowedError: Refusing to send the Qualtrics API token to the workflow URL: it carries user info (user:password@); only https://*.qualtrics.com may receive it (Received: https://evil.test)]`,
    )
  })
})

describe('the client refuses before sending anything', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer((_req, res) => {
      res.writeHead(202, { 'Content-Type': 'application/json' })
      res.end('{}')
    })
  })
  afterAll(() => server.close())

  it.each(REFUSED)('triggerWorkflow(%j) rejects with HOST_NOT_ALLOWED and makes no request', async (url) => {
    const recorder = recordingFetch()
    const client = createQualtricsClient({ apiToken: TOKEN, baseUrl: server.url, fetch: recorder.fetch })
    const error = await rejectionOf(client.triggerWorkflow(url, { event: 'x' }))
    expect(error).toBeInstanceOf(HostNotAllowedError)
    expect(error).toMatchObject({ code: 'HOST_NOT_ALLOWED', retryable: false })
    expect(error.message).not.toContain(TOKEN)
    expect(recorder.urls).toEqual([])
  })

  it('refuses another port on the loopback host of the configured baseUrl', async () => {
    const recorder = recordingFetch()
    const client = createQualtricsClient({ apiToken: TOKEN, baseUrl: server.url, fetch: recorder.fetch })
    const other = server.url.replace(/:(\d+)$/, (_m, port: string) => `:${Number(port) + 1}`)
    const error = await rejectionOf(client.triggerWorkflow(`${other}/inbound-event/x`, {}))
    expect(error).toBeInstanceOf(HostNotAllowedError)
    expect(recorder.urls).toEqual([])
  })

  it('sends the token to a workflow URL on the configured baseUrl origin', async () => {
    const client = createQualtricsClient({ apiToken: TOKEN, baseUrl: server.url })
    const before = server.requests.length
    await expect(
      client.triggerWorkflow(`${server.url}/inbound-event/v1/events/json/triggers?urlTokenId=abc`, { a: 1 }),
    ).resolves.toEqual({ status: 202 })
    const seen = server.requests.slice(before)
    expect(seen).toHaveLength(1)
    expect(seen[0]?.headers['x-api-token']).toBe(TOKEN)
    expect(seen[0]?.headers['content-type']).toBe('application/json')
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ a: 1 })
  })

  it('without baseUrl, refuses even the loopback test server', async () => {
    const recorder = recordingFetch()
    const client = createQualtricsClient({ apiToken: TOKEN, datacenter: 'iad1', fetch: recorder.fetch })
    const error = await rejectionOf(client.triggerWorkflow(`${server.url}/inbound-event/x`, {}))
    expect(error).toBeInstanceOf(HostNotAllowedError)
    expect(recorder.urls).toEqual([])
  })
})
