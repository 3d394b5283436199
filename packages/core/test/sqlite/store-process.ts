// A separate process on a SQLite file, for the one-process-per-file tests: opens the store at
// STORE_PATH, accepts ITEMS items (one commit each), prints "open" (or the error it got), and then
// holds the store until it is killed.

import { createSqliteStore } from '../../src/sqlite/index'

const path = process.env['STORE_PATH'] ?? ''
const items = Number(process.env['ITEMS'] ?? '0')
try {
  const store = createSqliteStore({ path })
  for (let i = 0; i < items; i++) {
    await store.accept(
      [
        {
          id: `item-${i}`,
          messageId: `m-${i}`,
          mappingId: 'm1',
          action: 'triggerXflowWorkflow',
          payload: { workflowUrl: 'https://iad1.qualtrics.com/x', eventPayload: { i } },
        },
      ],
      1_700_000_000_000,
    )
  }
  process.stdout.write('open\n')
  setInterval(() => undefined, 60_000)
} catch (error) {
  process.stdout.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(2)
}
