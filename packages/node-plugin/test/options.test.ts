// Options are validated once, at construction: every problem listed with what was received, the token
// never shown.
import { ConfigError } from '@qualtrics-relay/core'
import { describe, expect, it } from 'vitest'
import {
  createQualtricsNodePlugin,
  parseNodePluginOptions,
  type QualtricsNodePluginOptions,
} from '@qualtrics-relay/node-plugin'

const TOKEN = 'qt-secret-token-0123456789abcdefghijklmn'
const contact = { id: 'contact', action: 'addContactToXmd', fields: { directoryId: 'POOL_0123456789' } }

function problems(options: unknown): string {
  try {
    createQualtricsNodePlugin(options as QualtricsNodePluginOptions)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    const message = (error as Error).message
    expect(message).not.toContain(TOKEN)
    return message
  }
  throw new TypeError('expected a ConfigError')
}

describe('option validation', () => {
  it('accepts the smallest direct and proxy configurations', () => {
    expect(createQualtricsNodePlugin({ apiToken: TOKEN, datacenter: 'iad1', mappings: [] }).mode).toBe(
      'direct',
    )
    expect(createQualtricsNodePlugin({ proxyUrl: 'http://127.0.0.1:1', writeKey: 'wk_1' }).mode).toBe('proxy')
  })

  it('names the plugin so integrations filters can address it', () => {
    const plugin = createQualtricsNodePlugin({ proxyUrl: 'http://127.0.0.1:1', writeKey: 'wk_1' })
    expect({ name: plugin.name, type: plugin.type }).toEqual({ name: 'Qualtrics', type: 'destination' })
  })

  it('refuses something that is not an object', () => {
    expect(problems('iad1')).toMatchInlineSnapshot(
      `"Invalid Qualtrics plugin options: expected an object (Received: "iad1")"`,
    )
  })

  it('asks for a mode when neither apiToken nor proxyUrl is given', () => {
    expect(problems({ mappings: [contact] })).toMatchInlineSnapshot(`
      "Invalid Qualtrics plugin options (1 problem)
        - apiToken: or proxyUrl is required: apiToken for direct mode, proxyUrl and writeKey for the proxy"
    `)
  })

  it('refuses both modes at once', () => {
    expect(problems({ apiToken: TOKEN, datacenter: 'iad1', proxyUrl: 'http://x.test', writeKey: 'k' }))
      .toMatchInlineSnapshot(`
        "Invalid Qualtrics plugin options (1 problem)
          - apiToken: and proxyUrl exclude each other: give apiToken (direct mode) or proxyUrl (via the proxy)"
      `)
  })

  it('lists every bad direct-mode option at once, with the token masked', () => {
    expect(
      problems({
        apiToken: `${TOKEN} `,
        datacenter: 'US-East',
        baseUrl: 'ftp://sandbox',
        mappings: [
          { ...contact, trigger: 'type = ' },
          { id: 'x', action: 'sendEmail' },
        ],
        waitForDelivery: 'yes',
        timeoutMs: 0,
        flushTimeoutMs: 1.5,
        logger: console.log,
        workflowOrigins: ['https://ok.test', 'https://bad.test/path'],
        delivery: { maxAttempts: 0, transactionBatchSize: 5000, store: {}, colour: 'blue' },
        storage: { sqlitePath: 'q.db', synchronous: 'off' },
        source: 'bad\u0000name',
        writeKey: 'wk_1',
        retries: 3,
      }),
    ).toMatchInlineSnapshot(`
      "Invalid Qualtrics plugin options (18 problems)
        - writeKey: is an option of proxy mode only
        - retries: is not an option
        - waitForDelivery: must be true or false (Received: "yes")
        - timeoutMs: must be a whole number of ms, 1 or more (Received: 0)
        - flushTimeoutMs: must be a whole number of ms, 1 or more (Received: 1.5)
        - logger: must have info(fields, message) and warn(fields, message) (Received: a function)
        - workflowOrigins.1: must be an origin like "https://example.com" (Received: "https://bad.test/path")
        - mappings.0.trigger: Expected a value after "=" at position 7, found the end of the trigger
        - mappings.1.action: must be one of addContactToXmd, upsertContactTransaction, triggerXflowWorkflow (Received: "sendEmail")
        - apiToken: must be printable ASCII without spaces (Received: a string of 41 characters, hidden)
        - baseUrl: must use http: or https: (Received: "ftp://sandbox")
        - datacenter: must look like "iad1": lower-case letters, digits and "-" (Received: "US-East")
        - delivery.store: is set by the plugin and cannot be given
        - delivery.colour: is not an option of the delivery engine (Received: "blue")
        - delivery.transactionBatchSize: must be an integer from 1 to 1000 (Received: 5000)
        - delivery.maxAttempts: must be an integer >= 1 (Received: 0)
        - storage.synchronous: must be "full" or "normal" (Received: "off")
        - source: must be 1 to 128 characters of well-formed text without control characters (Received: "bad\\u0000name")"
    `)
  })

  it('masks the password of a bad database URL', () => {
    expect(
      problems({
        apiToken: 'x'.repeat(40),
        datacenter: 'iad1',
        mappings: [],
        storage: { databaseUrl: 'mysql://app:hunter2@db/app', schema: 'Bad', poolSize: 5 },
      }),
    ).toMatchInlineSnapshot(`
      "Invalid Qualtrics plugin options (3 problems)
        - storage.databaseUrl: must be a postgres://user:password@host:port/database URL (Received: mysql://app:***@db/app)
        - storage.schema: must be a lower-case identifier of letters, digits and _ (Received: "Bad")
        - storage.poolSize: is not an option"
    `)
  })

  it('does not show a token of the wrong type either', () => {
    expect(problems({ apiToken: 12345, datacenter: 'iad1', mappings: [] })).toMatchInlineSnapshot(`
      "Invalid Qualtrics plugin options (1 problem)
        - apiToken: is required: a non-empty string (Received: a number, hidden)"
    `)
  })

  it('lists every bad proxy-mode option at once', () => {
    expect(
      problems({
        proxyUrl: 'https://user:pass@relay.test/v1?x=1',
        writeKey: 'has space',
        batchSize: 500,
        lingerMs: -1,
        maxAttempts: 0,
        requestTimeoutMs: '5s',
        settingsMaxAgeMs: Infinity,
        identitySecret: 'short',
        storage: { sqlitePath: 'x.db' },
      }),
    ).toMatchInlineSnapshot(`
      "Invalid Qualtrics plugin options (9 problems)
        - storage: is an option of direct mode only
        - proxyUrl: must not carry user info (Received: https://…@relay.test)
        - writeKey: is required: a non-empty string without spaces (Received: "has space")
        - batchSize: must be a whole number from 1 to 100 (Received: 500)
        - lingerMs: must be a whole number of ms, 0 or more (Received: -1)
        - maxAttempts: must be a whole number from 1 to 20 (Received: 0)
        - requestTimeoutMs: must be a whole number of ms, 1 or more (Received: "5s")
        - settingsMaxAgeMs: must be a whole number of ms, 0 or more (Received: Infinity)
        - identitySecret: must be the write key's secret, at least 16 characters (Received: a string of 5 characters, hidden)"
    `)
  })

  it('hides user info in a bad proxy URL', () => {
    const message = problems({ proxyUrl: 'ftp://user:hunter2@relay.test', writeKey: 'wk' })
    expect(message).not.toContain('hunter2')
  })

  describe('SQLite storage without better-sqlite3 installed', () => {
    const direct = { apiToken: TOKEN, datacenter: 'iad1', mappings: [contact] }
    /** Node's resolution where better-sqlite3 is absent: everything else resolves. */
    const withoutBetterSqlite3 = (specifier: string) => {
      if (specifier !== 'better-sqlite3') return `/app/node_modules/${specifier}/index.js`
      throw Object.assign(new Error(`Cannot find module '${specifier}'`), { code: 'MODULE_NOT_FOUND' })
    }

    it('fails at construction, naming the option and the package', () => {
      let error: unknown
      try {
        parseNodePluginOptions({ ...direct, storage: { sqlitePath: 'q.db' } }, withoutBetterSqlite3)
      } catch (caught) {
        error = caught
      }
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as Error).message).toMatchInlineSnapshot(`
        "Invalid Qualtrics plugin options (1 problem)
          - storage.sqlitePath: needs the better-sqlite3 package, which is not installed: add it to your app (npm install better-sqlite3) or leave storage out for the in-memory queue (Received: MODULE_NOT_FOUND)"
      `)
    })

    it('names pg the same way for PostgreSQL storage where pg is absent', () => {
      const withoutPg = (specifier: string) => {
        if (specifier !== 'pg') return `/app/node_modules/${specifier}/index.js`
        throw Object.assign(new Error(`Cannot find module '${specifier}'`), { code: 'MODULE_NOT_FOUND' })
      }
      const storage = { databaseUrl: 'postgres://relay@127.0.0.1:5432/relay' }
      expect(() => parseNodePluginOptions({ ...direct, storage }, withoutPg)).toThrow(
        'storage.databaseUrl: needs the pg package, which is not installed',
      )
    })

    it('does not need it for the in-memory queue', () => {
      expect(parseNodePluginOptions(direct, withoutBetterSqlite3).mode).toBe('direct')
    })

    it('finds it where it is installed (this workspace)', () => {
      const options = { ...direct, storage: { sqlitePath: ':memory:' } } as QualtricsNodePluginOptions
      expect(createQualtricsNodePlugin(options).mode).toBe('direct')
    })
  })
})
