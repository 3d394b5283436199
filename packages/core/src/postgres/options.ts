import { ConfigError, describeValue, type FieldIssue } from '../errors'
import { maskDatabaseUrl } from '../server/store/database-url'

/** Receives the few things the store has to say on its own (an idle connection that broke). */
export interface PostgresStoreLogger {
  warn(fields: Record<string, unknown>, message: string): void
}

/**
 * Options of `createPostgresStore`.
 *
 * | option               | default             | meaning                                                                 |
 * |----------------------|---------------------|-------------------------------------------------------------------------|
 * | `url`                | (required)          | `postgres://user:password@host:port/database` (libpq URL; `?sslmode=…` honoured by pg) |
 * | `schema`             | `'qualtrics_relay'` | the schema holding the tables; created when missing (else create it beforehand and grant it) |
 * | `poolSize`           | `10`                | most connections this process opens                                     |
 * | `connectTimeoutMs`   | `5000`              | how long to wait for a connection before the operation fails (retryably) |
 * | `statementTimeoutMs` | `30000`             | the server cancels a statement that runs longer                          |
 * | `applicationName`    | `'qualtrics-relay'` | shown in `pg_stat_activity`                                              |
 * | `logger`             | none                | told about idle connections that broke                                  |
 */
export interface PostgresStoreOptions {
  url: string
  schema?: string
  poolSize?: number
  connectTimeoutMs?: number
  statementTimeoutMs?: number
  applicationName?: string
  logger?: PostgresStoreLogger
}

export type ParsedPostgresStoreOptions = Required<Omit<PostgresStoreOptions, 'logger'>> &
  Pick<PostgresStoreOptions, 'logger'>

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

function isDatabaseUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false
  try {
    const { protocol } = new URL(value)
    return protocol === 'postgres:' || protocol === 'postgresql:'
  } catch {
    return false
  }
}

const positiveInteger = (value: unknown) => typeof value === 'number' && Number.isInteger(value) && value > 0

export function parsePostgresStoreOptions(options: PostgresStoreOptions): ParsedPostgresStoreOptions {
  const issues: FieldIssue[] = []
  const o = (options ?? {}) as Partial<Record<keyof PostgresStoreOptions, unknown>>
  if (!isDatabaseUrl(o.url)) {
    const received = typeof o.url === 'string' ? maskDatabaseUrl(o.url) : describeValue(o.url)
    issues.push({
      path: 'url',
      message: `must be a postgres:// or postgresql:// URL (Received: ${received})`,
    })
  }
  if (o.schema !== undefined && (typeof o.schema !== 'string' || !SCHEMA_NAME.test(o.schema))) {
    issues.push({
      path: 'schema',
      message: `must be a lower-case identifier of letters, digits and _ (Received: ${describeValue(o.schema)})`,
    })
  }
  for (const key of ['poolSize', 'connectTimeoutMs', 'statementTimeoutMs'] as const) {
    if (o[key] !== undefined && !positiveInteger(o[key])) {
      issues.push({ path: key, message: `must be an integer > 0 (Received: ${describeValue(o[key])})` })
    }
  }
  if (o.applicationName !== undefined && typeof o.applicationName !== 'string') {
    issues.push({
      path: 'applicationName',
      message: `must be a string (Received: ${describeValue(o.applicationName)})`,
    })
  }
  if (o.logger !== undefined && typeof (o.logger as { warn?: unknown } | null)?.warn !== 'function') {
    issues.push({ path: 'logger', message: `must have a warn method (Received: ${describeValue(o.logger)})` })
  }
  if (issues.length > 0) throw new ConfigError('Invalid PostgreSQL store options', issues)
  const parsed: ParsedPostgresStoreOptions = {
    url: options.url,
    schema: options.schema ?? 'qualtrics_relay',
    poolSize: options.poolSize ?? 10,
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    statementTimeoutMs: options.statementTimeoutMs ?? 30_000,
    applicationName: options.applicationName ?? 'qualtrics-relay',
  }
  if (options.logger !== undefined) parsed.logger = options.logger
  return parsed
}
