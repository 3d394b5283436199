import { describe, expect, it } from 'vitest'
import { deriveItemId, normaliseIdentifier, type IdentifierKind } from '../../src/server/delivery/keys'

describe('deriveItemId', () => {
  it.each([
    ['msg-1', 'map-1', 'da9d73f096839044245fa2a1'],
    ['msg-1', 'map-2', 'ef6d40f9af28928bff65745b'],
    ['a', 'bc', 'e888dbab8a72db21857df839'],
    ['ab', 'c', 'e87c358f96d357c3c53ff462'],
  ])('derives the same id for (%s, %s) in every process and version', (messageId, mappingId, expected) => {
    expect(deriveItemId(messageId, mappingId)).toBe(expected)
  })

  it('gives different ids to different pairs, even when their concatenations are equal', () => {
    expect(deriveItemId('a', 'bc')).not.toBe(deriveItemId('ab', 'c'))
    expect(deriveItemId('msg-1', 'map-1')).not.toBe(deriveItemId('msg-1', 'map-2'))
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
