import { describe, expect, it } from 'vitest'
import {
  deriveItemId,
  isWellFormed,
  normaliseIdentifier,
  type IdentifierKind,
} from '../../src/server/delivery/keys'

describe('deriveItemId', () => {
  // Items without a source keep the ids schema 2 gave them: these values are from that version.
  it.each([
    ['msg-1', 'map-1', 'da9d73f096839044245fa2a1'],
    ['msg-1', 'map-2', 'ef6d40f9af28928bff65745b'],
    ['a', 'bc', 'e888dbab8a72db21857df839'],
    ['ab', 'c', 'e87c358f96d357c3c53ff462'],
  ])(
    'derives the same id for (%s, %s) without a source as every earlier version',
    (messageId, mappingId, expected) => {
      expect(deriveItemId({ messageId, mappingId })).toBe(expected)
    },
  )

  it.each([
    ['Shop', 'order-1001', 'purchase', '70350bcdef177c726c8a7cab'],
    ['wk_other', 'order-1001', 'purchase', '013a43472a0903cecc3d1b02'],
  ])(
    'derives the same id for (%s, %s, %s) in every process and version',
    (source, messageId, mappingId, expected) => {
      expect(deriveItemId({ source, messageId, mappingId })).toBe(expected)
    },
  )

  it('gives two sources with one messageId and mapping two ids', () => {
    const ids = ['Shop', 'wk_other', undefined].map((source) =>
      deriveItemId({ source, messageId: 'order-1001', mappingId: 'purchase' }),
    )
    expect(new Set(ids).size).toBe(3)
  })

  it('gives different ids to different triples, even when their concatenations are equal', () => {
    expect(deriveItemId({ messageId: 'a', mappingId: 'bc' })).not.toBe(
      deriveItemId({ messageId: 'ab', mappingId: 'c' }),
    )
    expect(deriveItemId({ source: 's', messageId: 'a', mappingId: 'b' })).not.toBe(
      deriveItemId({ source: 's\u0000a', messageId: '', mappingId: 'b' }),
    )
    expect(deriveItemId({ source: 'a', messageId: 'bc', mappingId: 'm' })).not.toBe(
      deriveItemId({ source: 'ab', messageId: 'c', mappingId: 'm' }),
    )
  })
})

describe('isWellFormed', () => {
  it.each([
    ['order-1', true],
    ['emoji \u{1F600}', true],
    ['', true],
    ['lone high \uD800', false],
    ['lone low \uDC00 here', false],
    ['reversed \uDE00\uD83D', false],
  ])('%j → %s', (value, expected) => {
    expect(isWellFormed(value)).toBe(expected)
  })
})

describe('normaliseIdentifier', () => {
  it.each([
    ['extRef', ' User-1 ', 'User-1'],
    ['email', ' Jane.Doe@Example.COM ', 'jane.doe@example.com'],
    ['phone', '+1 (555) 010-0199', '+15550100199'],
    ['phone', '555.010.0199', '5550100199'],
    ['phone', ' + ', undefined],
    ['email', '   ', undefined],
  ] as [IdentifierKind, string, string | undefined][])('%s %j → %j', (kind, value, expected) => {
    expect(normaliseIdentifier(kind, value)).toBe(expected)
  })
})
