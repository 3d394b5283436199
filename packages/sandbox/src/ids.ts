// Qualtrics-shaped identifiers: PREFIX_ + 15 alphanumerics, uuids for request ids and trigger tokens,
// 40-character API tokens. All drawn from a seedable generator.

import type { Random } from './random'

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const HEX = '0123456789abcdef'

export interface IdFactory {
  /** `prefix` + 15 alphanumerics, redrawn while `taken` says the id exists. */
  id(prefix: string, taken?: (id: string) => boolean): string
  uuid(): string
  token(): string
}

export function createIdFactory(random: Random): IdFactory {
  const chars = (alphabet: string, length: number): string => {
    let out = ''
    for (let i = 0; i < length; i++) out += alphabet[random.int(alphabet.length)] ?? ''
    return out
  }
  return {
    id(prefix, taken) {
      for (;;) {
        const candidate = prefix + chars(ALPHANUMERIC, 15)
        if (!taken?.(candidate)) return candidate
      }
    },
    uuid() {
      const hex = chars(HEX, 32)
      const variant = HEX[8 + random.int(4)] ?? '8'
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
    },
    token: () => chars(ALPHANUMERIC, 40),
  }
}
