// applyMapping and checkMapping against Segment's own mapping-kit (`transform` and `validate`) on the
// same inputs: hand-written cases, then generated ones (fast-check, fixed seed). The rules compared are
// those of compareWithSegment; deliberate deviations are pinned in deviations.test.ts, not here.
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { event, mapping, nonObjectEvent } from './arbitraries'
import { EVENTS, MAPPINGS, NON_OBJECT_EVENTS } from './segment-cases'
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

  it.each(Object.entries(NON_OBJECT_EVENTS))(
    'fail as Segment does on an event that is no object: %s',
    (_name, input) => {
      for (const fields of Object.values(MAPPINGS))
        count('not an object', compareWithSegment(fields, input as object))
      expect(tallyOf('not an object: both failed')).toBeGreaterThan(0)
    },
  )

  it('fail as Segment does on 300 generated mappings with events that are no object (seed 20261203)', () => {
    fc.assert(
      fc.property(mapping, nonObjectEvent, (fields, input) => {
        count('generated, not an object', compareWithSegment(fields, input as object))
      }),
      { seed: 20261203, numRuns: 300 },
    )
    expect(tallyOf('generated, not an object: same value')).toBe(0)
  })

  it('covers at least 300 hand-written cases of every kind', () => {
    expect(handCases.length).toBeGreaterThanOrEqual(300)
    expect(tallyOf('hand-written: same value')).toBeGreaterThan(250)
    expect(tallyOf('hand-written: both failed')).toBeGreaterThan(0)
    expect(tallyOf('hand-written: refused by both')).toBeGreaterThan(0)
    expect(tallyOf('hand-written: same value, stricter check')).toBeGreaterThan(0)
  })
})
