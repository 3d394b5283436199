// JSON logs with pino. Known secret paths are redacted, and as a last guard every line is scrubbed of
// the configured secrets' values (API token, admin token, signing secrets) before it is written.
import { pino, type DestinationStream, type Logger } from 'pino'
import type { LogLevel } from './config'

export type { Logger }

const REDACT_PATHS = [
  'apiToken',
  'token',
  'secret',
  'adminToken',
  'authorization',
  'email',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-token"]',
  '*.apiToken',
  '*.token',
  '*.secret',
  '*.adminToken',
  '*.authorization',
  '*.email',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["x-api-token"]',
]

export interface LoggerOptions {
  level: LogLevel
  /** Values that must never be written (scrubbed from every line). Short ones (< 8 chars) are ignored. */
  secrets?: readonly string[]
  /** Where lines go. Default: stdout. */
  destination?: DestinationStream
}

export function createLogger({ level, secrets = [], destination }: LoggerOptions): Logger {
  const scrub = secrets.filter((s) => s.length >= 8)
  const options = {
    level,
    base: { service: 'qualtrics-relay-proxy' },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    hooks: {
      streamWrite(line: string): string {
        let out = line
        for (const secret of scrub) if (out.includes(secret)) out = out.split(secret).join('[REDACTED]')
        return out
      },
    },
  }
  return pino(options, destination ?? stdout())
}

let stdoutGuarded = false
/**
 * Lines go to process.stdout itself rather than pino's default destination: when whoever reads stdout
 * goes away, writes fail with EPIPE and are dropped, instead of pino's synchronous flush at exit
 * retrying the failed write forever (which kept a SIGTERM'd proxy from ever exiting).
 */
function stdout(): DestinationStream {
  if (!stdoutGuarded) {
    stdoutGuarded = true
    process.stdout.on('error', () => undefined)
  }
  return process.stdout
}
