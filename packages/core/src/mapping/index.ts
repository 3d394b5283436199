// Segment-compatible field mappings: evaluation (browser hot path) and up-front checking.
export { applyMapping } from './apply-mapping'
export { checkMapping } from './check-mapping'
