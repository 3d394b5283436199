import { build } from 'esbuild'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { matchesTrigger, type TriggerCondition, type TriggerNode } from '../../src/trigger/index'

const order = {
  type: 'track',
  event: 'Order Completed',
  userId: 'u1',
  properties: {
    total: 10,
    text: '10',
    plan: 'pro',
    flag: true,
    zero: 0,
    empty: '',
    none: null,
    list: ['a'],
    nested: { b: 'x' },
  },
  traits: { vip: 'true' },
}

describe('matchesTrigger: Segment semantics, condition by condition', () => {
  it.each<[string, TriggerCondition, boolean]>([
    // = and != compare with the value as text, strictly
    ['= matches equal text', { field: 'event', op: '=', value: 'Order Completed' }, true],
    ['= is case-sensitive', { field: 'event', op: '=', value: 'order completed' }, false],
    ['= never matches a number', { field: 'properties.total', op: '=', value: '10' }, false],
    ['= matches numeric text', { field: 'properties.text', op: '=', value: '10' }, true],
    ['= compares a number value as text', { field: 'properties.text', op: '=', value: 10 }, true],
    ['!= matches a missing field', { field: 'name', op: '!=', value: 'Home' }, true],
    ['!= true means "is not the text true"', { field: 'properties.flag', op: '!=', value: true }, true],
    // numeric operators need a number in the event; the value is converted with Number()
    ['number_equals matches a number', { field: 'properties.total', op: 'number_equals', value: 10 }, true],
    [
      'number_equals ignores numeric text',
      { field: 'properties.text', op: 'number_equals', value: 10 },
      false,
    ],
    [
      'number_equals converts a text value',
      { field: 'properties.total', op: 'number_equals', value: '10' },
      true,
    ],
    [
      'number_not_equals needs a number',
      { field: 'properties.text', op: 'number_not_equals', value: 5 },
      false,
    ],
    ['number_not_equals on a number', { field: 'properties.total', op: 'number_not_equals', value: 5 }, true],
    ['> on a number', { field: 'properties.total', op: '>', value: 5 }, true],
    ['> never on numeric text', { field: 'properties.text', op: '>', value: 5 }, false],
    ['>= at the boundary', { field: 'properties.total', op: '>=', value: 10 }, true],
    ['< with a text value converts it', { field: 'properties.total', op: '<', value: '11' }, true],
    ['< with non-numeric text is false', { field: 'properties.total', op: '<', value: 'abc' }, false],
    ['< true compares with 1', { field: 'properties.zero', op: '<', value: true }, true],
    ['<= with "Infinity"', { field: 'properties.total', op: '<=', value: 'Infinity' }, true],
    ['< on a missing field', { field: 'properties.missing', op: '<', value: 5 }, false],
    // text operators need a string in the event
    ['contains', { field: 'event', op: 'contains', value: 'Order' }, true],
    ['contains never on a number', { field: 'properties.total', op: 'contains', value: '1' }, false],
    ['contains never on an array', { field: 'properties.list', op: 'contains', value: 'a' }, false],
    ['not_contains needs a string', { field: 'properties.total', op: 'not_contains', value: 'x' }, false],
    ['not_contains on a string', { field: 'event', op: 'not_contains', value: 'x' }, true],
    ['starts_with', { field: 'event', op: 'starts_with', value: 'Order' }, true],
    ['not_starts_with on a missing field', { field: 'name', op: 'not_starts_with', value: 'x' }, false],
    ['ends_with', { field: 'event', op: 'ends_with', value: 'Completed' }, true],
    ['not_ends_with', { field: 'event', op: 'not_ends_with', value: 'Completed' }, false],
    ['contains "" on any string', { field: 'properties.empty', op: 'contains', value: '' }, true],
    // exists and booleans
    ['exists on a value', { field: 'properties.zero', op: 'exists' }, true],
    ['exists on null', { field: 'properties.none', op: 'exists' }, false],
    ['not_exists on null', { field: 'properties.none', op: 'not_exists' }, true],
    ['not_exists on a missing field', { field: 'context.locale', op: 'not_exists' }, true],
    ['is_true on true', { field: 'properties.flag', op: 'is_true' }, true],
    ['is_true never on the text "true"', { field: 'traits.vip', op: 'is_true' }, false],
    ['is_false on a missing field', { field: 'properties.missing', op: 'is_false' }, false],
    // paths: like Segment, a falsy step stops the walk and is the result
    ['a path into a nested object', { field: 'properties.nested.b', op: '=', value: 'x' }, true],
    ['a path through 0 yields 0', { field: 'properties.zero.deep', op: 'number_equals', value: 0 }, true],
    ['a path through "" yields ""', { field: 'properties.empty.deep', op: '=', value: '' }, true],
    ['a path into an array', { field: 'properties.list.0', op: '=', value: 'a' }, true],
    [
      'a path reads string properties',
      { field: 'properties.plan.length', op: 'number_equals', value: 3 },
      true,
    ],
    ['a path under a missing object', { field: 'context.page.path', op: 'exists' }, false],
  ])('%s', (_, condition, expected) => {
    expect(matchesTrigger(condition, order)).toBe(expected)
  })

  it('answers false for an operator it does not know, like Segment', () => {
    expect(matchesTrigger({ field: 'event', op: 'like' as TriggerCondition['op'], value: 'x' }, order)).toBe(
      false,
    )
  })
})

describe('matchesTrigger: groups and events', () => {
  const isTrack: TriggerNode = { field: 'type', op: '=', value: 'track' }
  const isPage: TriggerNode = { field: 'type', op: '=', value: 'page' }

  it.each<[string, TriggerNode, boolean]>([
    ['and: all', { op: 'and', children: [isTrack, { field: 'userId', op: 'exists' }] }, true],
    ['and: one fails', { op: 'and', children: [isTrack, isPage] }, false],
    ['or: one matches', { op: 'or', children: [isPage, isTrack] }, true],
    ['or: none', { op: 'or', children: [isPage, isPage] }, false],
    ['nested', { op: 'and', children: [{ op: 'or', children: [isPage, isTrack] }, isTrack] }, true],
  ])('%s', (_, node, expected) => {
    expect(matchesTrigger(node, order)).toBe(expected)
  })

  it('never matches a null or undefined event', () => {
    expect(matchesTrigger({ field: 'type', op: 'not_exists' }, null as unknown as object)).toBe(false)
    expect(matchesTrigger({ field: 'type', op: 'not_exists' }, undefined as unknown as object)).toBe(false)
    expect(matchesTrigger({ field: 'type', op: 'not_exists' }, {})).toBe(true)
  })
})

describe('matchesTrigger: the browser bundle', () => {
  it('bundles alone, without the parser and with no imports, in well under 1 KB gzip', async () => {
    const entry = fileURLToPath(new URL('../../src/trigger/index.ts', import.meta.url))
    const result = await build({
      stdin: {
        contents: `export { matchesTrigger } from ${JSON.stringify(entry)}`,
        loader: 'ts',
        resolveDir: '.',
      },
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    })
    const code = result.outputFiles[0]?.text ?? ''
    expect(code).toContain('number_not_equals')
    expect(code).not.toMatch(/position|Segment|import/)
    expect(gzipSync(code, { level: 9 }).length).toBeLessThan(700)
  })
})
