// The request-slot semaphore of the engine: first come first served, and a stop (abort) rejects the
// waiters of that signal only.

import { describe, expect, it } from 'vitest'
import { createSemaphore, LimiterAbortedError } from '../../src/server/delivery/rate-limiter'

describe('createSemaphore', () => {
  it('hands freed slots to waiters in the order they came', async () => {
    const slots = createSemaphore(1)
    await slots.acquire()
    const order: number[] = []
    const waiting = [1, 2, 3].map((n) => slots.acquire().then(() => order.push(n)))
    for (let i = 0; i < 3; i++) {
      slots.release()
      await Promise.resolve()
    }
    await Promise.all(waiting)
    expect(order).toEqual([1, 2, 3])
    expect(slots.active()).toBe(1)
  })

  it('rejects the waiters of an aborted signal and keeps the others waiting', async () => {
    const slots = createSemaphore(1)
    const stopping = new AbortController()
    const other = new AbortController()
    await slots.acquire(stopping.signal)
    const first = slots.acquire(stopping.signal)
    const kept = slots.acquire(other.signal)
    const second = slots.acquire(stopping.signal)
    stopping.abort()
    await expect(first).rejects.toBeInstanceOf(LimiterAbortedError)
    await expect(second).rejects.toBeInstanceOf(LimiterAbortedError)
    await expect(slots.acquire(stopping.signal)).rejects.toBeInstanceOf(LimiterAbortedError)
    slots.release()
    await kept
    expect(slots.active()).toBe(1)
  })
})
