// `npx vitest bench packages/core/test/mapping`: applyMapping beside Segment's transform on the three
// default mappings of product.md (bench/core.ts measures the same, with triggers, for BENCHMARKS.md).
import { bench, describe } from 'vitest'
import { applyMapping } from '../../src/mapping/index'
import { DEFAULT_MAPPINGS, EVENTS } from './segment-cases'
import { segmentTransform } from './segment-oracle'

const events = [EVENTS.identify, EVENTS.purchase, EVENTS.bare] as Record<string, unknown>[]
const mappings = Object.values(DEFAULT_MAPPINGS)

describe('the three default mappings over three events', () => {
  bench('applyMapping', () => {
    for (const event of events) for (const mapping of mappings) applyMapping(mapping, event)
  })
  bench("Segment's transform", () => {
    for (const event of events) for (const mapping of mappings) segmentTransform(mapping, event)
  })
})
