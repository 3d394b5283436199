// Small helpers shared by the benchmarks: bundle sizes with esbuild, throughput with warm-up, and
// percentiles. Figures are always reported beside a baseline measured in the same run.
import { build } from 'esbuild'
import { gzipSync } from 'node:zlib'

export interface BundleSize {
  minified: number
  gzip: number
}

/** Minified ESM browser bundle of `contents` (resolved from `resolveDir`), gzip -9. */
export async function bundleSize(
  contents: string,
  resolveDir: string,
  external: string[] = [],
): Promise<BundleSize> {
  const result = await build({
    stdin: { contents, resolveDir, loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2018',
    write: false,
    external,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  })
  const code = result.outputFiles[0]?.contents ?? new Uint8Array()
  return { minified: code.length, gzip: gzipSync(code, { level: 9 }).length }
}

/** Runs `fn` for about `ms` after a warm-up; returns calls per second (median of 5 rounds). */
export function throughput(fn: () => void, ms = 400): number {
  const round = (duration: number) => {
    let calls = 0
    const start = performance.now()
    let elapsed = 0
    while (elapsed < duration) {
      for (let i = 0; i < 100; i++) fn()
      calls += 100
      elapsed = performance.now() - start
    }
    return (calls / elapsed) * 1000
  }
  round(ms / 2)
  const rounds = [1, 2, 3, 4, 5].map(() => round(ms)).sort((a, b) => a - b)
  return rounds[2] as number
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

export const kb = (bytes: number) => `${(bytes / 1024).toFixed(2)} KB`
export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits })

/** A section of BENCHMARKS.md. */
export interface BenchSection {
  title: string
  command: string
  markdown: string
}
