#!/usr/bin/env node
// In this repository (src/ present) the TypeScript source runs through tsx, so that the workspace's
// packages, whose exports point at their sources, resolve; installed from the tarball (no src/), the
// built dist/cli.js runs.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const source = new URL('../src/cli.ts', import.meta.url)
let cli
if (existsSync(fileURLToPath(source))) {
  const { register } = await import('tsx/esm/api')
  register()
  cli = await import(source.href)
} else {
  cli = await import(new URL('../dist/cli.js', import.meta.url).href)
}
await cli.run()
