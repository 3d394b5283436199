// @qualtrics-relay/browser-plugin: the analytics-next destination that sends mapped events to the
// qualtrics-relay proxy. Nothing here touches `window` until the plugin is loaded.
export { createQualtricsPlugin, PLUGIN_NAME, VERSION } from './plugin'
export type { QualtricsPluginOptions, StorageLike, Logger } from './options'
