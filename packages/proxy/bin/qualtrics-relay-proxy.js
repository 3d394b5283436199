#!/usr/bin/env node
// Runs the built CLI (dist/cli.js) when there is one, otherwise the TypeScript source through tsx.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const built = new URL('../dist/cli.js', import.meta.url)
let cli
if (existsSync(fileURLToPath(built))) {
  cli = await import(built.href)
} else {
  const { register } = await import('tsx/esm/api')
  register()
  cli = await import(new URL('../src/cli.ts', import.meta.url).href)
}
await cli.run()
