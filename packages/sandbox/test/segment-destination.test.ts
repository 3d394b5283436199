// Runs Segment's published Qualtrics destination (@segment/action-destinations, unmodified) against the
// sandbox: a client nobody here wrote must get the answers it expects.
//
// How its requests reach the sandbox: actions-core does not use globalThis.fetch but cross-fetch, i.e.
// node-fetch 2 over node:https, so wrapping fetch would not see them. actions-core does accept an
// `agent` request option (its after-response hook even destroys it), and a destination may add request
// options through `extendRequest`. The test gives the destination an https.Agent whose connections go
// over plain TCP to the sandbox on 127.0.0.1 — for `*.qualtrics.com` hosts only; any other host is
// refused, so nothing leaves this machine. The URLs, the Host header and the destination's code stay
// exactly as Segment wrote them.

import { Agent as HttpsAgent } from 'node:https'
import type { ClientRequestArgs } from 'node:http'
import { connect } from 'node:net'
import type { Duplex } from 'node:stream'
import { createRequire } from 'node:module'
import type * as ActionsCore from '@segment/actions-core'
import type { DestinationDefinition } from '@segment/actions-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startSandbox, type RunningSandbox } from '../src/index'

const require = createRequire(import.meta.url)
// CommonJS on both sides, so the destination and the test share one copy of actions-core.
const { createTestIntegration } = require('@segment/actions-core') as typeof ActionsCore
const qualtrics = (
  require('@segment/action-destinations/dist/destinations/qualtrics') as {
    default: DestinationDefinition<Settings>
  }
).default

interface Settings {
  apiToken: string
  datacenter: string
}

const QUALTRICS_HOST = /^[a-z0-9-]+(\.[a-z0-9-]+)?\.qualtrics\.com$/

/** Sends `https://{dc}.qualtrics.com` requests over plain TCP to the sandbox; refuses every other host. */
class SandboxAgent extends HttpsAgent {
  readonly hosts: string[] = []

  constructor(private readonly port: number) {
    super({ keepAlive: false })
  }

  override createConnection(
    options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const host = options.host ?? options.hostname ?? ''
    if (!QUALTRICS_HOST.test(host)) {
      callback?.(
        new TypeError(`test refused a request to a host that is not *.qualtrics.com: ${host}`),
        undefined as never,
      )
      return undefined
    }
    this.hosts.push(host)
    return connect(this.port, '127.0.0.1')
  }
}

let sb: RunningSandbox
let agent: SandboxAgent
let destination: ReturnType<typeof createTestIntegration<Settings>>
let settings: Settings

beforeAll(async () => {
  sb = await startSandbox({ randomSeed: 11, seed: { datacenter: 'iad1' } })
  agent = new SandboxAgent(sb.port)
  destination = createTestIntegration<Settings>({ ...qualtrics, extendRequest: () => ({ agent }) })
  settings = { apiToken: sb.token, datacenter: 'iad1' }
})
afterEach(() => {
  sb.reset()
  // The test integration only empties its response list after a successful testAction.
  destination.responses = []
})
afterAll(async () => {
  await sb.close()
})

const routes = (): Array<string | null> => sb.inspect().requests.map((r) => r.route)

describe("Segment's Qualtrics destination against the sandbox", () => {
  describe('testAuthentication', () => {
    it('passes with the sandbox token (GET /API/v3/whoami on the datacenter host)', async () => {
      await expect(destination.testAuthentication(settings)).resolves.toBeUndefined()
      expect(routes()).toEqual(['whoami'])
      expect(agent.hosts.at(-1)).toBe('iad1.qualtrics.com')
    })

    it('fails with "Credentials are invalid: 401 …" for a wrong token', async () => {
      await expect(
        destination.testAuthentication({ ...settings, apiToken: 'not-a-valid-token' }),
      ).rejects.toThrow('Credentials are invalid: 401 Unauthorized')
    })
  })

  describe('the directoryId dynamic field', () => {
    it('lists the directories as choices', async () => {
      const response = await destination.testDynamicField('upsertContactTransaction', 'directoryId', {
        settings,
        payload: {},
      })
      expect(response).toEqual({ choices: [{ label: 'Sandbox Directory', value: sb.directoryId }] })
    })

    it("reports Qualtrics' own error message and status from meta.error", async () => {
      const response = await destination.testDynamicField('addContactToXmd', 'directoryId', {
        settings: { ...settings, apiToken: 'not-a-valid-token' },
        payload: {},
      })
      expect(response).toEqual({ choices: [], error: { message: 'Unrecognized X-API-TOKEN.', code: '401' } })
    })
  })

  describe('addContactToXmd', () => {
    const identify = {
      type: 'identify' as const,
      userId: 'user_id_1',
      traits: {
        firstName: 'Jane',
        lastName: 'Doe',
        email: 'janedoe@email.com',
        phone: '0005551234',
        language: 'en',
        region: 'north',
      },
    }

    it('creates the contact and gets {result: {id}} back', async () => {
      const responses = await destination.testAction('addContactToXmd', {
        event: identify,
        settings,
        mapping: { directoryId: sb.directoryId, embeddedData: { region: { '@path': '$.traits.region' } } },
        useDefaultMappings: true,
      })
      expect(responses).toHaveLength(1)
      expect(responses[0]?.status).toBe(200)
      const contactId = (responses[0]?.data as { result: { id: string } }).result.id
      expect(contactId).toMatch(/^CID_/)
      expect(sb.inspect().contacts).toEqual([
        expect.objectContaining({
          id: contactId,
          extRef: 'user_id_1',
          firstName: 'Jane',
          lastName: 'Doe',
          email: 'janedoe@email.com',
          phone: '0005551234',
          language: 'en',
          unsubscribed: false,
          embeddedData: { region: 'north' },
        }),
      ])
    })

    it('upserts through the merge rules: the same user twice is one contact with the same id', async () => {
      const run = (lastName: string) =>
        destination.testAction('addContactToXmd', {
          event: { ...identify, traits: { ...identify.traits, lastName } },
          settings,
          mapping: { directoryId: sb.directoryId },
          useDefaultMappings: true,
        })
      const first = await run('Doe')
      const second = await run('Smith')
      const id = (r: typeof first) => (r[0]?.data as { result: { id: string } }).result.id
      expect(id(second)).toBe(id(first))
      expect(sb.inspect().contacts).toEqual([expect.objectContaining({ lastName: 'Smith', mergeCount: 1 })])
    })

    it('sends {} when only directoryId is mapped, and the sandbox accepts it', async () => {
      const responses = await destination.testAction('addContactToXmd', {
        event: identify,
        settings,
        mapping: { directoryId: sb.directoryId },
      })
      expect(responses[0]?.status).toBe(200)
      expect(sb.inspect().contacts).toHaveLength(1)
    })
  })

  describe('upsertContactTransaction', () => {
    const track = {
      type: 'track' as const,
      event: 'Transaction Created',
      userId: 'user_id_1',
      timestamp: '2024-02-01T10:20:30.000Z',
      properties: { total: 19.99, currency: 'EUR' },
      traits: { email: 'janedoe@email.com', phone: '0005551234', firstName: 'Jane', lastName: 'Doe' },
    }
    const mapping = () => ({
      directoryId: sb.directoryId,
      mailingListId: sb.mailingListId,
      transactionData: {
        total: { '@path': '$.properties.total' },
        currency: { '@path': '$.properties.currency' },
      },
    })

    it('for a new user: searches (0 matches), creates the contact, then writes the transaction', async () => {
      const responses = await destination.testAction('upsertContactTransaction', {
        event: track,
        settings,
        mapping: mapping(),
        useDefaultMappings: true,
      })
      expect(responses.map((r) => r.status)).toEqual([200, 200, 200])
      expect(routes()).toEqual(['searchContacts', 'createContact', 'createTransactions'])
      const snapshot = sb.inspect()
      expect(snapshot.contacts).toHaveLength(1)
      const contactId = snapshot.contacts[0]?.id
      expect(snapshot.transactions).toEqual([
        expect.objectContaining({
          key: expect.stringMatching(/^[a-z1-9]{16}$/),
          contactId,
          mailingListId: sb.mailingListId,
          transactionDate: '2024-02-01 10:20:30',
          data: { total: 19.99, currency: 'EUR' },
        }),
      ])
      const result = (
        responses[2]?.data as {
          result: { createdTransactions: Record<string, { id: string }>; unprocessedTransactions: object }
        }
      ).result
      expect(Object.values(result.createdTransactions)).toEqual([{ id: snapshot.transactions[0]?.id }])
      expect(result.unprocessedTransactions).toEqual({})
    })

    it('for a known user: the search finds exactly one contact and no contact is created', async () => {
      await destination.testAction('upsertContactTransaction', {
        event: track,
        settings,
        mapping: mapping(),
        useDefaultMappings: true,
      })
      sb.sandbox.clearRequests()
      const responses = await destination.testAction('upsertContactTransaction', {
        event: track,
        settings,
        mapping: mapping(),
        useDefaultMappings: true,
      })
      expect(responses).toHaveLength(2)
      expect(routes()).toEqual(['searchContacts', 'createTransactions'])
      const snapshot = sb.inspect()
      expect(snapshot.contacts).toHaveLength(1)
      expect(snapshot.transactions.map((t) => t.contactId)).toEqual([
        snapshot.contacts[0]?.id,
        snapshot.contacts[0]?.id,
      ])
    })

    it('with contactId given: one POST /transactions', async () => {
      const contactId = (
        await destination.testAction('addContactToXmd', {
          event: { type: 'identify', userId: 'u9' },
          settings,
          mapping: { directoryId: sb.directoryId },
          useDefaultMappings: true,
        })
      )[0]?.data as { result: { id: string } }
      sb.sandbox.clearRequests()
      const responses = await destination.testAction('upsertContactTransaction', {
        event: track,
        settings,
        mapping: { ...mapping(), contactId: contactId.result.id },
        useDefaultMappings: true,
      })
      expect(responses).toHaveLength(1)
      expect(routes()).toEqual(['createTransactions'])
      expect(sb.inspect().transactions[0]?.contactId).toBe(contactId.result.id)
    })

    it('fails with its own lookup error when the search returns 2 matches (duplicate-search-match fault)', async () => {
      sb.setFaults([{ kind: 'duplicate-search-match' }])
      await expect(
        destination.testAction('upsertContactTransaction', {
          event: track,
          settings,
          mapping: mapping(),
          useDefaultMappings: true,
        }),
      ).rejects.toThrow('Unable to located one and only one contact in directory search')
      expect(sb.inspect().transactions).toHaveLength(0)
    })

    it('treats unprocessed transactions inside a 200 as success (a weakness the sandbox makes visible)', async () => {
      sb.setFaults([{ kind: 'partial-unprocessed' }])
      const responses = await destination.testAction('upsertContactTransaction', {
        event: track,
        settings,
        mapping: mapping(),
        useDefaultMappings: true,
      })
      expect(responses.at(-1)?.status).toBe(200)
      expect(sb.inspect().transactions).toHaveLength(0)
    })

    it('writes a second transaction when the same event is delivered twice (duplicates are recorded)', async () => {
      const event = { ...track, messageId: 'same-message' }
      await destination.testAction('upsertContactTransaction', {
        event,
        settings,
        mapping: mapping(),
        useDefaultMappings: true,
      })
      await destination.testAction('upsertContactTransaction', {
        event,
        settings,
        mapping: mapping(),
        useDefaultMappings: true,
      })
      expect(sb.inspect().transactions).toHaveLength(2)
    })

    it('surfaces a 500 from the sandbox as an HTTP error', async () => {
      sb.setFaults([{ kind: 'http-error', status: 500, route: 'createTransactions' }])
      await expect(
        destination.testAction('upsertContactTransaction', {
          event: track,
          settings,
          mapping: mapping(),
          useDefaultMappings: true,
        }),
      ).rejects.toThrow('Internal Server Error')
    })
  })

  describe('triggerXflowWorkflow', () => {
    it('posts the event payload to the workflow URL with X-API-TOKEN and gets 202', async () => {
      const workflowUrl = `https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=${new URL(sb.workflowUrl).searchParams.get('urlTokenId') ?? ''}`
      const responses = await destination.testAction('triggerXflowWorkflow', {
        event: {
          type: 'track',
          event: 'Order Completed',
          userId: 'user_id_1',
          properties: { total: 5 },
          traits: { firstName: 'Jane' },
        },
        settings,
        mapping: { workflowUrl },
        useDefaultMappings: true,
      })
      expect(responses[0]?.status).toBe(202)
      const [run] = sb.inspect().workflowRuns
      expect(run).toMatchObject({
        auth: 'token',
        payload: {
          event: 'Order Completed',
          type: 'track',
          userId: 'user_id_1',
          properties: { total: 5 },
          traits: { firstName: 'Jane' },
        },
      })
      expect(run?.payload).toHaveProperty('context.library.name', 'analytics.js')
    })

    it('is refused with 401 for a wrong token, which the destination turns into an error', async () => {
      await expect(
        destination.testAction('triggerXflowWorkflow', {
          event: { type: 'track', event: 'x' },
          settings: { ...settings, apiToken: 'not-a-valid-token' },
          mapping: {
            workflowUrl: `https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=${new URL(sb.workflowUrl).searchParams.get('urlTokenId') ?? ''}`,
          },
          useDefaultMappings: true,
        }),
      ).rejects.toThrow('Unauthorized')
      expect(sb.inspect().workflowRuns).toHaveLength(0)
    })
  })

  it('never let the destination reach a host other than *.qualtrics.com', () => {
    expect(agent.hosts.every((h) => QUALTRICS_HOST.test(h))).toBe(true)
    expect(agent.hosts.length).toBeGreaterThan(0)
  })
})
