import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/errors'
import { createQualtricsClient, isDatacenter, parseQualtricsClientOptions } from '../../src/server/qualtrics'

const TOKEN = 'tok_SuperSecret_0123456789'

describe('datacenter validation', () => {
  it.each(['iad1', 'fra1', 'ca1', 'yul1', 'gov1', 'eu', 'co1', 'a', 'us-east-1', '1abc'])(
    'accepts %j',
    (dc) => {
      expect(isDatacenter(dc)).toBe(true)
      expect(() => createQualtricsClient({ apiToken: TOKEN, datacenter: dc })).not.toThrow()
    },
  )

  it.each([
    'IAD1',
    'iad1.evil.test',
    'attacker.com/path?x=',
    'attacker.com@legitimate',
    'iad1:443',
    '-iad1',
    '',
    ' iad1',
    'iad1 ',
    'iad_1',
    'iad1/',
    'a'.repeat(64),
    'iad1\n',
  ])('refuses %j', (dc) => {
    expect(isDatacenter(dc)).toBe(false)
    const error = (() => {
      try {
        createQualtricsClient({ apiToken: TOKEN, datacenter: dc })
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual(['datacenter'])
  })

  it.each([123, null, {}, ['iad1']])('refuses the non-string %j', (dc) => {
    expect(isDatacenter(dc)).toBe(false)
  })

  it('builds the API base from the datacenter', () => {
    expect(parseQualtricsClientOptions({ apiToken: TOKEN, datacenter: 'fra1' }).apiBase).toBe(
      'https://fra1.qualtrics.com',
    )
  })

  it('lets baseUrl override the datacenter and makes its origin an allowed one', () => {
    const resolved = parseQualtricsClientOptions({
      apiToken: TOKEN,
      datacenter: 'iad1',
      baseUrl: 'http://127.0.0.1:4010/qualtrics/',
    })
    expect(resolved.apiBase).toBe('http://127.0.0.1:4010/qualtrics')
    expect(resolved.extraOrigin).toBe('http://127.0.0.1:4010')
  })

  it('needs no datacenter when baseUrl is given', () => {
    expect(() => createQualtricsClient({ apiToken: TOKEN, baseUrl: 'http://127.0.0.1:4010' })).not.toThrow()
  })
})

describe('option validation', () => {
  it('lists every bad option in one ConfigError and never shows the token', () => {
    const secret = 'my secret token'
    let error: unknown
    try {
      createQualtricsClient({
        apiToken: secret,
        datacenter: 'iad1.evil.test',
        baseUrl: 'https://user:pw@sandbox.test/?q=1',
        fetch: 'nope' as unknown as typeof fetch,
        now: 5 as unknown as () => number,
        timeoutMs: -1,
        userAgent: 'bad\nagent',
        apiKey: 'typo',
      } as never)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigError)
    const configError = error as ConfigError
    expect(configError.code).toBe('CONFIG_INVALID')
    expect(configError.retryable).toBe(false)
    expect(configError.message).not.toContain(secret)
    expect(configError.message).not.toContain('pw')
    expect(configError.message).toMatchInlineSnapshot(`
      "Invalid Qualtrics client options (8 problems)
        - apiKey: unknown option
        - apiToken: must be printable ASCII without spaces (Received: a string of 15 characters, hidden)
        - baseUrl: must not carry user info (Received: https://…@sandbox.test)
        - datacenter: must look like "iad1": lower-case letters, digits and "-" (Received: "iad1.evil.test")
        - fetch: must be a function (Received: "nope")
        - now: must be a function returning epoch ms (Received: 5)
        - timeoutMs: must be a positive whole number of ms (Received: -1)
        - userAgent: must be a non-empty printable ASCII string (Received: "bad\\nagent")"
    `)
  })

  it('asks for a token and a datacenter when both are missing', () => {
    expect(() => createQualtricsClient({} as never)).toThrowErrorMatchingInlineSnapshot(`
      [ConfigError: Invalid Qualtrics client options (2 problems)
        - apiToken: required, a non-empty string (Received: undefined)
        - datacenter: required unless baseUrl is given (e.g. "iad1")]
    `)
  })

  it('masks a token of the wrong type instead of echoing it', () => {
    expect(() => createQualtricsClient({ apiToken: 987654321 as unknown as string, datacenter: 'iad1' }))
      .toThrowErrorMatchingInlineSnapshot(`
      [ConfigError: Invalid Qualtrics client options (1 problem)
        - apiToken: required, a non-empty string (Received: a number, hidden)]
    `)
  })

  it.each([0, 1.5, Number.NaN, 2 ** 31, '100'])('refuses timeoutMs %j', (timeoutMs) => {
    expect(() =>
      createQualtricsClient({ apiToken: TOKEN, datacenter: 'iad1', timeoutMs: timeoutMs as number }),
    ).toThrow(/timeoutMs: must be a positive whole number of ms/)
  })

  it.each(['ftp://127.0.0.1', 'not a url', '/relative', 'http://127.0.0.1:4010/#x'])(
    'refuses baseUrl %j',
    (baseUrl) => {
      expect(() => createQualtricsClient({ apiToken: TOKEN, baseUrl })).toThrow(/baseUrl: must/)
    },
  )

  it('refuses something that is not an options object', () => {
    expect(() => createQualtricsClient(null as never)).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: Invalid Qualtrics client options: expected an object (Received: null)]`,
    )
  })

  it('accepts a pino-shaped logger', () => {
    const logger = { info: () => {}, warn: () => {}, error: () => {}, level: 'info' }
    expect(() => createQualtricsClient({ apiToken: TOKEN, datacenter: 'iad1', logger })).not.toThrow()
  })
})
