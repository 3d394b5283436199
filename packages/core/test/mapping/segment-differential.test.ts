// applyMapping and checkMapping against Segment's own mapping-kit (`transform` and `validate`) on the
// same inputs: hand-written cases, then generated ones (fast-check, fixed seed). The rules compared are
// those of compareWithSegment; deliberate deviations are pinned in deviations.test.ts, not here.
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { event, mapping } from './arbitraries'
import { EVENTS, MAPPINGS } from './segment-cases'
import { compareWithSegment, type Verdict } from './segment-oracle'

const tally = new Map<string, number>()
const count = (group: string, verdict: Verdict) => {
  const key = `${group}: ${verdict}`
  tally.set(key, (tally.get(key) ?? 0) + 1)
  tally.set(group, (tally.get(group) ?? 0) + 1)
}
const tallyOf = (key: string) => tally.get(key) ?? 0

afterAll(() => {
  console.info('differential cases:\n' + [...tally].map(([key, value]) => `  ${key}: ${value}`).join('\n'))
})

const handCases = Object.entries(MAPPINGS).flatMap(([name, fields]) =>
  Object.entries(EVENTS).map(([eventName, input]) => ({ name: `${name} (${eventName})`, fields, input })),
)

describe('applyMapping and checkMapping agree with Segment', () => {
  it.each(handCases)('$name', ({ fields, input }) => {
    count('hand-written', compareWithSegment(fields, input))
  })

  it('agree on 1,500 generated mappings and events (seed 20261128)', () => {
    fc.assert(
      fc.property(mapping, event, (fields, input) => {
        count('generated', compareWithSegment(fields, input))
      }),
      { seed: 20261128, numRuns: 1500 },
    )
    // The generator must keep exercising every outcome, not drift into refusing everything.
    expect(tallyOf('generated: same value')).toBeGreaterThan(600)
    expect(tallyOf('generated: both failed')).toBeGreaterThan(20)
    expect(tallyOf('generated: refused by both')).toBeGreaterThan(50)
  })

  it('covers at least 300 hand-written cases of every kind', () => {
    expect(handCases.length).toBeGreaterThanOrEqual(300)
    expect(tallyOf('hand-written: same value')).toBeGreaterThan(250)
    expect(tallyOf('hand-written: both failed')).toBeGreaterThan(0)
    expect(tallyOf('hand-written: refused by both')).toBeGreaterThan(0)
    expect(tallyOf('hand-written: same value, stricter check')).toBeGreaterThan(0)
  })
})
