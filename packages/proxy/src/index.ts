// @qualtrics-relay/proxy — the self-hosted proxy between the browser plugin and Qualtrics.
export { createApp } from './app'
export type { AppDeps } from './context'
export { startServer, installShutdownHandlers } from './server'
export type { RunningServer, StartOptions } from './server'
export {
  parseConfig,
  loadConfig,
  applySandboxValues,
  maskSecret,
  DEMO_CONFIG,
  DEFAULTS,
  ENV,
  SANDBOX_PLACEHOLDERS,
} from './config'
export type {
  ProxyConfig,
  WriteKeyConfig,
  DeliveryConfig,
  QualtricsTarget,
  TokenBucketConfig,
  SandboxValues,
  LogLevel,
  Env,
} from './config'
export { signIdentity } from './security/identity'
export { HttpError } from './http-error'
export type { HttpErrorCode } from './http-error'
export { createLogger } from './logger'
export { createMetrics } from './metrics'
export type { ProxyMetrics } from './metrics'
export { main } from './cli'
