// @qualtrics-relay/node-plugin — an analytics-node destination plugin that delivers mapped events to
// Qualtrics: directly (core's delivery engine, this server holds the token) or through the proxy.
export { createQualtricsNodePlugin, PLUGIN_NAME, PLUGIN_VERSION, ITEM_SOURCE } from './plugin'
export type { QualtricsNodePlugin, WaitOptions } from './plugin'
export { parseNodePluginOptions, DEFAULTS } from './options'
export type {
  QualtricsNodePluginOptions,
  DirectModeOptions,
  ProxyModeOptions,
  CommonOptions,
  DeliveryOptions,
  NodePluginLogger,
} from './options'
export { checkLive } from './live-check'
export type { CheckLiveOptions, CheckLiveResult } from './live-check'
export { QualtricsDeliveryError, ItemDeliveryError, PluginTimeoutError, ProxyError } from './errors'
export type { MappingFailureDetail } from './errors'
