// Segment-compatible field mappings: evaluation (browser hot path) and up-front checking.
export { applyMapping } from './apply-mapping'
export { checkMapping } from './check-mapping'
export { compileMapping } from './compile-mapping'
export { runMapping } from './run-mapping'
export type { MappingProgram } from './run-mapping'
