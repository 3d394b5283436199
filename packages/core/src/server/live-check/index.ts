export {
  runLiveCheck,
  LIVE_CHECK_MARK,
  type LiveCheckOptions,
  type LiveCheckReport,
  type LiveCheckResult,
  type OrLookups,
} from './live-check'
export {
  liveCheckAccount,
  liveCheckRecordOf,
  writeLiveCheckRecord,
  readLiveCheckRecord,
  orLookupsVerified,
  type LiveCheckRecord,
} from './record'
