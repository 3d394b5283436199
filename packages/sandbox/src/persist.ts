// Optional persistence of the state to a JSON file: written after changes (debounced) and on close,
// atomically (temporary file, then rename). Read once at start when the file exists.

import { existsSync, readFileSync } from 'node:fs'
import { rename, writeFile } from 'node:fs/promises'
import { isRecord } from './check'
import { SandboxError } from './errors'
import type { SandboxState } from './types'

export const STATE_FORMAT = 'qualtrics-sandbox-state'

export interface PersistedFile {
  format: typeof STATE_FORMAT
  version: 1
  savedAt: string
  state: SandboxState
}

const ARRAY_KEYS = [
  'users',
  'directories',
  'contacts',
  'mailingLists',
  'transactions',
  'transactionBatches',
  'workflows',
  'workflowRuns',
] as const

/** The state saved in `file`, or undefined when the file does not exist. */
export function readPersistedState(file: string): SandboxState | undefined {
  if (!existsSync(file)) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new SandboxError(
      'PERSIST_READ_FAILED',
      `Cannot read the sandbox state file ${file}: not valid JSON`,
      { cause: error },
    )
  }
  const state = isRecord(parsed) ? parsed['state'] : undefined
  if (!isRecord(parsed) || parsed['format'] !== STATE_FORMAT || !isRecord(state)) {
    throw new SandboxError(
      'PERSIST_READ_FAILED',
      `Cannot read the sandbox state file ${file}: expected {"format": "${STATE_FORMAT}", "state": {...}}`,
    )
  }
  const missing = ARRAY_KEYS.filter((key) => !Array.isArray(state[key]))
  if (typeof state['datacenter'] !== 'string' || typeof state['brandId'] !== 'string' || missing.length > 0) {
    throw new SandboxError(
      'PERSIST_READ_FAILED',
      `Cannot read the sandbox state file ${file}: state lacks ${['datacenter', 'brandId', ...missing].join(', ')}`,
    )
  }
  return state as unknown as SandboxState
}

export interface Persister {
  /** Schedules a write after the debounce delay (coalescing bursts of changes). */
  schedule(): void
  /** Writes now (waiting for a write in progress first). */
  flush(): Promise<void>
}

export function createPersister(
  file: string,
  snapshot: () => SandboxState,
  debounceMs: number,
  onError: (error: SandboxError) => void,
): Persister {
  let timer: NodeJS.Timeout | undefined
  let chain: Promise<void> = Promise.resolve()
  let counter = 0

  const write = (): Promise<void> => {
    const content: PersistedFile = {
      format: STATE_FORMAT,
      version: 1,
      savedAt: new Date().toISOString(),
      state: snapshot(),
    }
    const text = `${JSON.stringify(content, null, 2)}\n`
    const tmp = `${file}.${process.pid}.${++counter}.tmp`
    chain = chain
      .then(async () => {
        await writeFile(tmp, text, 'utf8')
        await rename(tmp, file)
      })
      .catch((error: unknown) => {
        onError(
          new SandboxError('PERSIST_WRITE_FAILED', `Cannot write the sandbox state file ${file}`, {
            cause: error,
          }),
        )
      })
    return chain
  }

  return {
    schedule() {
      if (timer) return
      timer = setTimeout(() => {
        timer = undefined
        void write()
      }, debounceMs)
      timer.unref()
    },
    flush() {
      if (timer) {
        clearTimeout(timer)
        timer = undefined
      }
      return write()
    },
  }
}
