// Core ships one JavaScript file per source file (modules preserved), so that a bundler drops what a
// page does not use: with `sideEffects: false`, the action definitions (titles, descriptions, default
// mappings), the compilers and the server code never reach the browser plugin's users. One bundled
// file would keep them, because the definitions are built by function calls at load.
//
// The declarations are bundled per public entry instead (relative imports in per-file .d.ts would need
// extensions under `moduleResolution: nodenext`). The public entries are read from `publishConfig.exports`
// in package.json, so a new subpath (e.g. `./postgres`) is added there and nowhere else.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { Plugin } from 'esbuild'
import { defineConfig } from 'tsup'

const manifest = JSON.parse(readFileSync(new URL('package.json', import.meta.url), 'utf8')) as {
  publishConfig: { exports: Record<string, string | { types: string; default: string }> }
}

/** `./dist/server/index.d.ts` → `src/server/index.ts`, for every public entry with types. */
export const publicEntries = Object.values(manifest.publishConfig.exports).flatMap((target) =>
  typeof target === 'string' ? [] : [target.types.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$/, '.ts')],
)

/** Keeps each relative import as an import of the sibling output file, with the `.js` Node needs. */
const preserveModules: Plugin = {
  name: 'preserve-modules',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind === 'entry-point') return undefined
      const base = resolve(args.resolveDir, args.path)
      if (existsSync(`${base}.ts`)) return { path: `${args.path}.js`, external: true }
      if (existsSync(`${base}/index.ts`)) return { path: `${args.path}/index.js`, external: true }
      return { errors: [{ text: `cannot resolve ${args.path} from ${dirname(args.importer)}` }] }
    })
  },
}

export default defineConfig({
  entry: ['src/**/*.ts'],
  format: 'esm',
  target: 'es2022',
  clean: true,
  splitting: false,
  esbuildPlugins: [preserveModules],
  dts: { entry: publicEntries },
})
