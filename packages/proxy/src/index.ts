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
  MODES,
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
  ProxyMode,
  ConfigOverrides,
} from './config'
export { signIdentity, isCanonicalUserId } from './security/identity'
export { HttpError } from './http-error'
export type { HttpErrorCode } from './http-error'
export { createLogger } from './logger'
export { createMetrics } from './metrics'
export type { ProxyMetrics } from './metrics'
export { main } from './cli'
