// The per-second rate of a counter over the last few seconds, from samples of its running total.

export interface RateWindow {
  /** Records the counter's total at `at` (ms). */
  add(at: number, total: number): void
  /** The counter's increase per second over the window; 0 until there are two samples. */
  perSecond(): number
  /** Forgets the samples (the counter restarted from 0, or stopped counting). */
  clear(): void
}

export function createRateWindow(spanMs = 5_000): RateWindow {
  const samples: { at: number; total: number }[] = []
  return {
    add(at, total) {
      samples.push({ at, total })
      // Keep one sample at or before the window's start, so the rate spans the whole window.
      while (samples.length > 2 && (samples[1] as { at: number }).at <= at - spanMs) samples.shift()
    },
    perSecond() {
      const first = samples[0]
      const last = samples[samples.length - 1]
      if (first === undefined || last === undefined || last.at <= first.at) return 0
      return Math.max(0, (last.total - first.total) / ((last.at - first.at) / 1000))
    },
    clear() {
      samples.length = 0
    },
  }
}
