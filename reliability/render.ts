// Re-renders RELIABILITY.md from reliability/results.json without running the suite:
//   pnpm exec tsx reliability/render.ts
import { fileURLToPath } from 'node:url'
import { renderReliability } from './lib/render'
import { readResults, writeFormatted } from './lib/results'

const root = fileURLToPath(new URL('..', import.meta.url))
const results = readResults(`${root}reliability/results.json`)
await writeFormatted(`${root}RELIABILITY.md`, renderReliability(results), 'markdown')
