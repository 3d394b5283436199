// A small seedable pseudo-random generator (sfc32 seeded through splitmix32), so ids, request ids
// and fault probabilities can be reproduced from one number. Never Math.random.

import { randomInt } from 'node:crypto'

export interface Random {
  /** A float in [0, 1). */
  next(): number
  /** An integer in [0, max). */
  int(max: number): number
}

function splitmix32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x9e3779b9) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

export function createRandom(seed: number): Random {
  const init = splitmix32(seed)
  let a = init()
  let b = init()
  let c = init()
  let d = init()
  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) >>> 0
    return t / 4294967296
  }
  // Discard the first outputs, as usual for sfc32.
  for (let i = 0; i < 12; i++) next()
  return { next, int: (max) => Math.floor(next() * max) }
}

/** A fresh seed for runs that did not ask for one (reported by `inspect()` so a run can be replayed). */
export function createRandomSeed(): number {
  return randomInt(0, 2 ** 31)
}

/** Derives independent streams from one seed, so adding a fault does not shift the ids. */
export function deriveSeed(seed: number, stream: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) + Math.imul(stream + 1, 0x165667b1)) >>> 0
}
