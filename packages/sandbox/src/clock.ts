// Time source. Everything that depends on time (rate-limit buckets, creation dates) reads an injected
// clock, so tests can move time forward instead of sleeping.

/** Milliseconds since the epoch. */
export type Clock = () => number

export interface ManualClock {
  /** Pass this as `clock`. */
  readonly now: Clock
  advance(ms: number): void
  set(ms: number): void
}

/** A clock that only moves when told to; for tests. */
export function createManualClock(startMs = Date.UTC(2024, 0, 1)): ManualClock {
  let current = startMs
  return {
    now: () => current,
    advance(ms) {
      current += ms
    },
    set(ms) {
      current = ms
    },
  }
}

/** ISO date without milliseconds, the style of Qualtrics' `creationDate`/`lastModified`. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}
