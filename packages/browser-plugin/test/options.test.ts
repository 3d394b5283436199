// Options are checked once, at construction, with every problem listed.
import { describe, expect, it } from 'vitest'
import { RelayError } from '@qualtrics-relay/core'
import { Context } from '@segment/analytics-next'
import { createQualtricsPlugin, type QualtricsPluginOptions } from '../src/index'
import { memoryStorage, settingsFixture, WRITE_KEY } from './support/harness'

const valid = { proxyUrl: 'http://127.0.0.1:1', writeKey: WRITE_KEY }
const message = (options: unknown) => {
  try {
    createQualtricsPlugin(options as QualtricsPluginOptions)
  } catch (error) {
    // A RelayError with code CONFIG_INVALID and one issue per problem, each also a line of the message.
    const { code, issues, message } = error as RelayError & { issues: { path: string; message: string }[] }
    expect(error).toBeInstanceOf(RelayError)
    expect(code).toBe('CONFIG_INVALID')
    expect(message.split('\n').slice(1)).toEqual(
      issues.map((i) => `  - ${i.path ? `${i.path}: ` : ''}${i.message}`),
    )
    return message
  }
  return 'no error'
}

describe('options', () => {
  it('lists every problem with what was received', () => {
    expect(
      message({
        proxyUrl: 'relay.example.com',
        batchSize: 0,
        flushInterval: 100,
        consentCategories: 'Analytics',
        storage: {},
        debug: 'yes',
        maxAgeMs: 1.5,
      }),
    ).toMatchInlineSnapshot(`
      "Invalid Qualtrics plugin options
        - flushInterval: is not an option (Received: 100)
        - proxyUrl: must be an http(s) URL or a /path (Received: "relay.example.com")
        - writeKey: must be a non-empty string (Received: undefined)
        - batchSize: must be a whole number from 1 to 100 (Received: 0)
        - consentCategories: must be an array of non-empty strings (Received: "Analytics")
        - debug: must be true, false or a function (Received: "yes")
        - storage: must be a Storage or null (Received: {})
        - maxAgeMs: must be a whole number from 60000 to 7776000000 (Received: 1.5)"
    `)
  })

  it('refuses something that is not an object', () => {
    expect(message(undefined)).toMatchInlineSnapshot(`
      "Invalid Qualtrics plugin options
        - must be an object (Received: undefined)
        - proxyUrl: must be an http(s) URL or a /path (Received: undefined)
        - writeKey: must be a non-empty string (Received: undefined)"
    `)
  })

  it.each([
    ['an absolute https URL', { proxyUrl: 'https://relay.example.com' }],
    ['a same-origin path', { proxyUrl: '/relay' }],
    ['inline settings', { settings: settingsFixture() }],
    [
      'every numeric option at its bounds',
      { batchSize: 100, flushIntervalMs: 0, maxQueueItems: 1, maxQueueBytes: 1000, maxAgeMs: 60_000 },
    ],
    ['a logger function as debug', { debug: () => {} }],
    ['storage null', { storage: null }],
    [
      'a custom storage and fetch',
      { storage: memoryStorage(), fetch: () => Promise.reject(new Error('unused')) },
    ],
    [
      'consent categories and an identity function',
      { consentCategories: ['Analytics'], identity: () => undefined },
    ],
  ])('accepts %s', (_, extra) => {
    expect(message({ ...valid, ...extra })).toBe('no error')
  })

  it('neither fetches nor reads storage before load() is called', () => {
    const used: string[] = []
    const storage = memoryStorage()
    const watched = new Proxy(storage, {
      get: (target, key) => {
        const value: unknown = Reflect.get(target, key)
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => (
          used.push(String(key)),
          (value as (...a: unknown[]) => unknown).apply(target, args)
        )
      },
    })
    const plugin = createQualtricsPlugin({
      ...valid,
      storage: watched,
      fetch: (input) => (used.push(`fetch ${String(input)}`), Promise.reject(new Error('offline'))),
    })
    expect(plugin.isLoaded()).toBe(false)
    expect(used).toEqual([])
  })

  it('never throws into analytics-next: a throwing identity callback becomes a failed delivery', async () => {
    const plugin = createQualtricsPlugin({
      ...valid,
      settings: settingsFixture(),
      storage: memoryStorage(),
      identity: () => {
        throw new TypeError('no session')
      },
    })
    const ctx = new Context({
      type: 'identify',
      userId: 'u-1',
      traits: { email: 'a@example.com' },
      messageId: 'x-1',
    })
    await expect(plugin.identify!(ctx)).resolves.toBe(ctx)
    expect((ctx.failedDelivery()?.reason as Error).message).toMatchInlineSnapshot(
      `"Qualtrics plugin failed: TypeError: no session"`,
    )
    plugin.unload?.(ctx, undefined as never)
  })
})
