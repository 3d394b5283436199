// The Node ESM app of the consumer check: analytics-node with the node plugin, as its README shows,
// sending an identify, a purchase and a feedback request, in direct mode or through the proxy.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, ScriptError } from '../lib/run'

const SEND_EVENTS = `// Written by the consumer check: node send-events.mjs '<plugin options as JSON>' <userId>
import { Analytics } from '@segment/analytics-node'
import { createQualtricsNodePlugin } from '@qualtrics-relay/node-plugin'

const [options, userId] = [JSON.parse(process.argv[2]), process.argv[3]]
const qualtrics = createQualtricsNodePlugin({ ...options, waitForDelivery: true })
const analytics = new Analytics({ writeKey: 'segment-write-key' })
await analytics.register(qualtrics)
// Only Qualtrics: nothing goes to Segment.
await analytics.ready
await analytics.deregister('Segment.io')
const errors = []
analytics.on('error', (error) => errors.push(String(error.reason?.message ?? error.reason ?? error)))

const email = userId + '@example.com'
analytics.identify({ userId, traits: { email, firstName: 'Ada' } })
analytics.track({ userId, event: 'Transaction Created', properties: { orderId: 'o-' + userId, total: 42 } })
analytics.track({ userId, event: 'Feedback Requested', properties: { topic: 'delivery' } })
await analytics.closeAndFlush()
await qualtrics.close()
console.log(JSON.stringify({ errors }))
`

const WITHOUT_SQLITE = `// Written by the consumer check: the node plugin where better-sqlite3 is not installed.
import { createQualtricsNodePlugin } from '@qualtrics-relay/node-plugin'

const options = { apiToken: 'token-0123456789', baseUrl: 'http://127.0.0.1:9', mappings: [] }
createQualtricsNodePlugin(options) // the in-memory queue needs nothing more
try {
  createQualtricsNodePlugin({ ...options, storage: { sqlitePath: 'queue.db' } })
  console.log(JSON.stringify({ error: null }))
} catch (error) {
  console.log(JSON.stringify({ error: { name: error.name, code: error.code, message: error.message } }))
}
`

/** Runs the app with the given plugin options; rejects when analytics reported a failed delivery. */
export async function sendEvents(app: string, pluginOptions: object, userId: string): Promise<void> {
  writeFileSync(join(app, 'send-events.mjs'), SEND_EVENTS)
  const { stdout } = await run(process.execPath, ['send-events.mjs', JSON.stringify(pluginOptions), userId], {
    cwd: app,
  })
  const { errors } = JSON.parse(stdout.trim().split('\n').pop()!) as { errors: string[] }
  if (errors.length > 0) throw new ScriptError(`analytics-node reported failures:\n${errors.join('\n')}`)
}

/** In an app without better-sqlite3, asking for SQLite storage must fail at construction, saying why. */
export async function checkMissingSqlite(app: string): Promise<void> {
  writeFileSync(join(app, 'without-sqlite.mjs'), WITHOUT_SQLITE)
  const { stdout } = await run(process.execPath, ['without-sqlite.mjs'], { cwd: app })
  const { error } = JSON.parse(stdout.trim()) as { error: { code: string; message: string } | null }
  if (error === null)
    throw new ScriptError('the plugin was constructed with SQLite storage and no better-sqlite3')
  const wanted = ['CONFIG_INVALID', 'storage.sqlitePath', 'better-sqlite3']
  const text = `${error.code} ${error.message}`
  if (!wanted.every((w) => text.includes(w)))
    throw new ScriptError(`the construction error does not name ${wanted.join(', ')}: ${text}`)
}
