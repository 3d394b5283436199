import { ConfigError } from '@qualtrics-relay/core'
import { describe, expect, it } from 'vitest'
import { applySandboxValues, DEMO_CONFIG, parseConfig } from '../src/config'

const TOKEN = 'qt_live_9f8e7d6c5b4a39281706'
const env = { QUALTRICS_API_TOKEN: TOKEN, QUALTRICS_DATACENTER: 'iad1' }

const minimal = {
  writeKeys: {
    wk_site: {
      origins: ['https://shop.example'],
      mappings: [{ id: 'contact', action: 'addContactToXmd', fields: { directoryId: 'POOL_abc' } }],
    },
  },
}

function problems(envIn: Record<string, string | undefined>, file: unknown): string {
  try {
    parseConfig(
      envIn,
      file === undefined ? undefined : typeof file === 'string' ? file : JSON.stringify(file),
      'relay.json',
    )
  } catch (error) {
    if (error instanceof ConfigError) return error.message
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('parseConfig', () => {
  it('reads a minimal file with defaults filled in', () => {
    const config = parseConfig(env, JSON.stringify(minimal), 'relay.json')
    expect(config.qualtrics).toEqual({ mode: 'qualtrics', apiToken: TOKEN, datacenter: 'iad1' })
    expect(config.server).toEqual({
      host: '127.0.0.1',
      port: 8787,
      trustProxy: false,
      maxBodyBytes: 102400,
      maxBatchItems: 100,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      maxConnectionsPerAddress: 64,
    })
    expect(config.storage).toEqual({ kind: 'sqlite', path: 'qualtrics-relay.db', synchronous: 'full' })
    const wk = config.writeKeys.get('wk_site')
    expect(wk?.name).toBe('wk_site')
    expect([...(wk?.allow.directories ?? [])]).toEqual(['POOL_abc'])
    expect(wk?.mappings[0]?.trigger).toEqual(expect.objectContaining({}))
  })

  it('starts in sandbox mode with the demo write key when asked, without a file', () => {
    const config = parseConfig({}, undefined, 'flags', { mode: 'sandbox' })
    expect(config.qualtrics.mode).toBe('sandbox')
    expect([...config.writeKeys.keys()]).toEqual(['wk_demo'])
    expect(config.writeKeys.get('wk_demo')?.mappings.map((m) => m.action)).toEqual([
      'addContactToXmd',
      'upsertContactTransaction',
      'triggerXflowWorkflow',
    ])
  })

  it('replaces the sandbox placeholders with the running sandbox ids', () => {
    const config = applySandboxValues(parseConfig({}, JSON.stringify(DEMO_CONFIG)), {
      directoryId: 'POOL_sandbox1',
      mailingListId: 'CG_sandbox1',
      workflowUrl: 'http://127.0.0.1:4010/inbound-event/v1/events/json/triggers?urlTokenId=abc',
    })
    const wk = config.writeKeys.get('wk_demo')
    expect([...(wk?.allow.directories ?? [])]).toEqual(['POOL_sandbox1'])
    expect([...(wk?.allow.mailingLists ?? [])]).toEqual(['CG_sandbox1'])
    expect([...(wk?.allow.workflowUrls ?? [])]).toEqual([
      'http://127.0.0.1:4010/inbound-event/v1/events/json/triggers?urlTokenId=abc',
    ])
    expect(wk?.mappings[1]?.fields).toMatchObject({
      directoryId: 'POOL_sandbox1',
      mailingListId: 'CG_sandbox1',
    })
  })

  it('lists every bad key of the file at once, with what was received', () => {
    const file = {
      server: { port: 70000, maxBodyBytes: 'big', colour: 'red' },
      storage: { path: '', synchronous: 'off' },
      rateLimits: { perIp: { perMinute: 0, burst: 10 } },
      delivery: { maxAttempts: 0, ambiguousContact: 'random' },
      logLevel: 'loud',
      writeKeys: {
        'bad key!': { mappings: [] },
        wk_site: {
          origins: ['https://shop.example/path', 'ftp://x'],
          mappings: [
            { id: 'contact', action: 'addContactToXmd', fields: {} },
            {
              id: 'wf',
              action: 'triggerXflowWorkflow',
              trigger: 'type = "track"',
              fields: { workflowUrl: 'https://qualtrics.com.evil.test/x' },
            },
            { id: 'tx', action: 'sendEmail' },
          ],
          allow: {
            directories: ['DIR_1'],
            mailingLists: ['CG_ok'],
            workflowUrls: ['https://iad1.qualtrics.com@evil.test/'],
          },
          identity: { secretEnv: 'MISSING_SECRET' },
        },
      },
    }
    expect(problems(env, file)).toMatchInlineSnapshot(`
      "Invalid configuration in relay.json (18 problems)
        - server.port: must be a whole number from 0 to 65535 (Received: 70000)
        - server.maxBodyBytes: must be a whole number from 1024 to 10485760 (Received: "big")
        - server.colour: is not a config option
        - storage.path: must be a file path or ":memory:" (Received: "")
        - storage.synchronous: must be "full" or "normal" (Received: "off")
        - rateLimits.perIp.perMinute: must be a whole number from 1 to 10000000 (Received: 0)
        - delivery.ambiguousContact: must be "newest" or "fail" (Received: "random")
        - delivery.maxAttempts: must be a whole number from 1 to 1000000 (Received: 0)
        - logLevel: must be one of fatal, error, warn, info, debug, trace, silent (Received: "loud")
        - writeKeys.bad key!: is not a valid write key: use 3-128 letters, digits, "_" or "-" (Received: "bad key!")
        - writeKeys.wk_site.origins.0: must be an origin such as "https://shop.example" (scheme, host and port only), or "*" (Received: "https://shop.example/path")
        - writeKeys.wk_site.origins.1: must be an origin such as "https://shop.example" (scheme, host and port only), or "*" (Received: "ftp://x")
        - writeKeys.wk_site.mappings.0.fields.directoryId: is required by addContactToXmd and has no default
        - writeKeys.wk_site.mappings.2.action: must be one of addContactToXmd, upsertContactTransaction, triggerXflowWorkflow (Received: "sendEmail")
        - writeKeys.wk_site.allow.directories.0: must be a Qualtrics id like POOL_… (Received: "DIR_1")
        - writeKeys.wk_site.allow.workflowUrls.0: must be an https URL on a *.qualtrics.com host (Received: "https://…@evil.test/")
        - writeKeys.wk_site.mappings.1.fields.workflowUrl: must be an https URL on a *.qualtrics.com host (Received: "https://qualtrics.com.evil.test/x")
        - writeKeys.wk_site.identity.secretEnv: names MISSING_SECRET, which must hold a secret of at least 16 characters (Received: undefined)"
    `)
  })

  it('masks secrets from the environment and never prints them', () => {
    const message = problems(
      {
        QUALTRICS_API_TOKEN: 'has space inside',
        QUALTRICS_DATACENTER: 'IAD 1',
        RELAY_ADMIN_TOKEN: 'short',
        SIGNING: 'tiny',
      },
      {
        writeKeys: {
          wk_site: { ...minimal.writeKeys.wk_site, identity: { secretEnv: 'SIGNING' } },
        },
      },
    )
    expect(message).not.toContain('has space inside')
    expect(message).not.toContain('short')
    expect(message).not.toContain('tiny')
    expect(message).toMatchInlineSnapshot(`
      "Invalid configuration in relay.json (4 problems)
        - env.QUALTRICS_API_TOKEN: must be printable ASCII without spaces (Received: a string of 16 characters, hidden)
        - env.RELAY_ADMIN_TOKEN: must be at least 16 printable characters without spaces (Received: a string of 5 characters, hidden)
        - env.QUALTRICS_DATACENTER: must look like "iad1": lower-case letters, digits and "-" (Received: "IAD 1")
        - writeKeys.wk_site.identity.secretEnv: names SIGNING, which must hold a secret of at least 16 characters (Received: a string of 4 characters, hidden)"
    `)
  })

  it('stores in PostgreSQL when DATABASE_URL or storage.url is set, the environment winning', () => {
    const url = 'postgres://relay:s3cret-pw@db.internal:5432/relay'
    expect(parseConfig({ ...env, DATABASE_URL: url }, JSON.stringify(minimal)).storage).toEqual({
      kind: 'postgres',
      url,
    })
    const file = { ...minimal, storage: { path: 'x.db', schema: 'relay_eu', poolSize: 20 } }
    expect(parseConfig({ ...env, DATABASE_URL: url }, JSON.stringify(file)).storage).toEqual({
      kind: 'postgres',
      url,
      schema: 'relay_eu',
      poolSize: 20,
    })
    const inFile = { ...minimal, storage: { url: 'postgresql://db/relay' } }
    expect(parseConfig(env, JSON.stringify(inFile)).storage).toEqual({
      kind: 'postgres',
      url: 'postgresql://db/relay',
    })
  })

  it('keeps the rate budget and contact locks per process only when the test switch says "1" on PostgreSQL', () => {
    const url = 'postgres://relay:s3cret-pw@db.internal:5432/relay'
    const on = { ...env, DATABASE_URL: url, RELAY_TEST_ONLY_PER_PROCESS_LIMITS: '1' }
    expect(parseConfig(on, JSON.stringify(minimal)).storage).toEqual({
      kind: 'postgres',
      url,
      testOnlyPerProcessLimits: true,
    })
    expect(problems({ ...env, DATABASE_URL: url, RELAY_TEST_ONLY_PER_PROCESS_LIMITS: 'yes' }, minimal))
      .toMatchInlineSnapshot(`
      "Invalid configuration in relay.json (1 problem)
        - env.RELAY_TEST_ONLY_PER_PROCESS_LIMITS: is a test switch: "1" with PostgreSQL storage, or unset (Received: "yes")"
    `)
    expect(problems({ ...env, RELAY_TEST_ONLY_PER_PROCESS_LIMITS: '1' }, minimal)).toMatchInlineSnapshot(`
      "Invalid configuration in relay.json (1 problem)
        - env.RELAY_TEST_ONLY_PER_PROCESS_LIMITS: is a test switch: "1" with PostgreSQL storage, or unset (Received: "1", with SQLite storage)"
    `)
  })

  it('lists bad storage keys with the database password masked', () => {
    const text = problems(
      { ...env, DATABASE_URL: 'mysql://relay:s3cret-pw@db/relay' },
      { ...minimal, storage: { schema: 'Relay-EU', poolSize: 0 } },
    )
    expect(text).not.toContain('s3cret-pw')
    expect(text).toMatchInlineSnapshot(`
      "Invalid configuration in relay.json (3 problems)
        - storage.schema: must be a lower-case identifier of letters, digits and _ (Received: "Relay-EU")
        - storage.poolSize: must be a whole number from 1 to 1000 (Received: 0)
        - env.DATABASE_URL: must be a postgres://user:password@host:port/database URL (Received: mysql://relay:***@db/relay)"
    `)
    expect(problems(env, { ...minimal, storage: { path: 'x.db', url: 'not a url with pw', schema: 'ok' } }))
      .toMatchInlineSnapshot(`
      "Invalid configuration in relay.json (2 problems)
        - storage.url: must be a postgres://user:password@host:port/database URL (Received: a string of 17 characters that is not a URL, hidden)
        - storage.path: is the SQLite file: give storage.path or storage.url, not both"
    `)
    expect(problems(env, { ...minimal, storage: { schema: 'relay' } })).toMatchInlineSnapshot(`
      "Invalid configuration in relay.json (1 problem)
        - storage.schema: is a PostgreSQL option: set DATABASE_URL or storage.url too"
    `)
  })

  it('needs a file and a datacenter when a token is set', () => {
    expect(problems({ QUALTRICS_API_TOKEN: TOKEN }, undefined)).toMatchInlineSnapshot(`
      "Invalid configuration in relay.json (2 problems)
        - (file): is required: give one with --config <path> or RELAY_CONFIG (it lists the write keys); for a local try without Qualtrics, start with --sandbox (or "mode": "sandbox")
        - env.QUALTRICS_DATACENTER: is required in mode "qualtrics", e.g. "iad1" (or QUALTRICS_BASE_URL) (Received: undefined)"
    `)
  })

  it('never falls back to sandbox mode: a forgotten token stops start-up, even with a datacenter', () => {
    expect(problems({ QUALTRICS_DATACENTER: 'iad1' }, minimal)).toMatchInlineSnapshot(`
      "Invalid configuration in relay.json (1 problem)
        - env.QUALTRICS_API_TOKEN: is required in mode "qualtrics" (the default): the Qualtrics API token; for a local try without Qualtrics, start with --sandbox (or "mode": "sandbox") (Received: undefined)"
    `)
    expect(problems({}, undefined)).toMatchInlineSnapshot(`
      "Invalid configuration in relay.json (3 problems)
        - (file): is required: give one with --config <path> or RELAY_CONFIG (it lists the write keys); for a local try without Qualtrics, start with --sandbox (or "mode": "sandbox")
        - env.QUALTRICS_API_TOKEN: is required in mode "qualtrics" (the default): the Qualtrics API token; for a local try without Qualtrics, start with --sandbox (or "mode": "sandbox") (Received: undefined)
        - env.QUALTRICS_DATACENTER: is required in mode "qualtrics", e.g. "iad1" (or QUALTRICS_BASE_URL) (Received: undefined)"
    `)
  })

  it('takes the mode from the flag, RELAY_MODE or the file, in that order', () => {
    const sandboxFile = { ...minimal, mode: 'sandbox' }
    expect(parseConfig({}, JSON.stringify(sandboxFile)).qualtrics.mode).toBe('sandbox')
    expect(parseConfig({ RELAY_MODE: 'sandbox' }, JSON.stringify(minimal)).qualtrics.mode).toBe('sandbox')
    expect(parseConfig({}, JSON.stringify(minimal), 'x', { mode: 'sandbox' }).qualtrics.mode).toBe('sandbox')
    expect(parseConfig({ ...env, RELAY_MODE: 'qualtrics' }, JSON.stringify(sandboxFile)).qualtrics.mode).toBe(
      'qualtrics',
    )
    expect(problems({ RELAY_MODE: 'demo' }, sandboxFile)).toMatchInlineSnapshot(`
      "Invalid configuration in relay.json (1 problem)
        - env.RELAY_MODE: must be "qualtrics" or "sandbox" (Received: "demo")"
    `)
  })

  it('refuses Qualtrics settings and real workflow URLs in sandbox mode, which calls only its sandbox', () => {
    const file = {
      mode: 'sandbox',
      qualtrics: { datacenter: 'iad1' },
      writeKeys: {
        wk_site: {
          mappings: [
            {
              id: 'wf',
              action: 'triggerXflowWorkflow',
              trigger: 'type = "track"',
              fields: {
                workflowUrl: 'https://acme.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=x',
              },
            },
          ],
        },
      },
    }
    expect(problems({ QUALTRICS_API_TOKEN: TOKEN }, file)).toMatchInlineSnapshot(`
      "Invalid configuration in relay.json (4 problems)
        - env.QUALTRICS_API_TOKEN: is not used in mode "sandbox", which talks to its own sandbox only: unset it, or use mode "qualtrics" (Received: a string of 28 characters, hidden)
        - qualtrics.datacenter: is not used in mode "sandbox", which talks to its own sandbox only: unset it, or use mode "qualtrics" (Received: "iad1")
        - writeKeys.wk_site.mappings.0.fields.workflowUrl: must be "$sandbox.workflowUrl" in mode "sandbox", which calls no host but its own sandbox (Received: "https://acme.qualtrics.com/inbound-event/v1/events/json/tr…)
        - writeKeys.wk_site.mappings.0.fields.workflowUrl: triggerXflowWorkflow needs a workflowUrl, but writeKeys.wk_site.allow.workflowUrls is empty and no mapping sets it to a literal, so nothing could be delivered"
    `)
  })

  it('refuses sandbox placeholders outside sandbox mode and malformed JSON', () => {
    expect(
      problems(env, {
        writeKeys: {
          wk_site: {
            mappings: [
              { id: 'c', action: 'addContactToXmd', fields: { directoryId: '$sandbox.directoryId' } },
            ],
          },
        },
      }),
    ).toMatchInlineSnapshot(`
      "Invalid configuration in relay.json (1 problem)
        - writeKeys.wk_site.mappings.0.fields.directoryId: $sandbox.directoryId can only be used in mode "sandbox" (Received: "$sandbox.directoryId")"
    `)
    expect(problems(env, '{ "writeKeys": ')).toMatchInlineSnapshot(`
      "Invalid configuration in relay.json
        - (file): is not JSON: Unexpected end of JSON input"
    `)
  })

  it.each([
    ['PORT', { PORT: '99999' }],
    ['RELAY_LOG_LEVEL', { RELAY_LOG_LEVEL: 'chatty' }],
    ['QUALTRICS_BASE_URL', { QUALTRICS_BASE_URL: 'https://user:pw@sandbox.test' }],
  ])('refuses a bad %s from the environment', (name, extra) => {
    expect(problems({ ...env, ...extra }, minimal)).toContain(`env.${name}`)
  })

  it('lets workflow URLs use the origin of QUALTRICS_BASE_URL', () => {
    const config = parseConfig(
      { ...env, QUALTRICS_BASE_URL: 'http://127.0.0.1:4010' },
      JSON.stringify({
        writeKeys: {
          wk_site: {
            mappings: [
              {
                id: 'wf',
                action: 'triggerXflowWorkflow',
                trigger: 'type = "track"',
                fields: {
                  workflowUrl: 'http://127.0.0.1:4010/inbound-event/v1/events/json/triggers?urlTokenId=x',
                },
              },
            ],
          },
        },
      }),
    )
    expect(config.qualtrics).toMatchObject({ mode: 'qualtrics', baseUrl: 'http://127.0.0.1:4010' })
  })
})
