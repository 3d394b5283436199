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
  return destination ? pino(options, destination) : pino(options)
}
