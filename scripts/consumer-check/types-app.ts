// TypeScript as users compile against the installed packages: one file importing every public entry
// (read from each installed package's `exports`, so a new subpath is covered without editing this),
// checked with `skipLibCheck: false` under `moduleResolution` nodenext and bundler, and the server
// entries once more without the DOM library (a Node service has none).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run } from '../lib/run'

export const PACKAGE_NAMES = [
  '@qualtrics-relay/core',
  '@qualtrics-relay/sandbox',
  '@qualtrics-relay/proxy',
  '@qualtrics-relay/browser-plugin',
  '@qualtrics-relay/node-plugin',
]
/** Entries that run in browsers only (checked with the DOM library). */
const BROWSER_ONLY = new Set(['@qualtrics-relay/browser-plugin'])

/** Every importable JavaScript entry of the installed packages (not package.json or the script tag). */
export function publicEntries(app: string): string[] {
  return PACKAGE_NAMES.flatMap((name) => {
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules', name, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>
    }
    return Object.keys(manifest.exports)
      .filter((key) => key !== './package.json' && !key.endsWith('.js'))
      .map((key) => (key === '.' ? name : `${name}/${key.slice(2)}`))
  })
}

const importAll = (entries: string[]) =>
  entries.map((e, i) => `import * as entry${i} from '${e}'\n`).join('') +
  `export const entries = [${entries.map((_, i) => `entry${i}`).join(', ')}]\n`

const compilerOptions = {
  target: 'es2022',
  strict: true,
  skipLibCheck: false,
  noEmit: true,
  types: ['node'],
}

export interface TypeCheck {
  name: string
  run(): Promise<void>
}

/** The three compilations, each a check of its own. */
export function typeChecks(app: string): TypeCheck[] {
  const dir = join(app, 'types')
  mkdirSync(dir, { recursive: true })
  const entries = publicEntries(app)
  writeFileSync(join(dir, 'all.ts'), importAll(entries))
  writeFileSync(join(dir, 'server.ts'), importAll(entries.filter((e) => !BROWSER_ONLY.has(e))))
  const configs: [string, object, string][] = [
    ['nodenext', { module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2023', 'dom'] }, 'all.ts'],
    ['bundler', { module: 'preserve', moduleResolution: 'bundler', lib: ['es2023', 'dom'] }, 'all.ts'],
    ['nodenext-server', { module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2023'] }, 'server.ts'],
  ]
  return configs.map(([label, options, file]) => ({
    name: `tsc --noEmit, ${label}, skipLibCheck false: ${file === 'all.ts' ? 'every entry' : 'the Node entries without DOM'} (${entries.length} entries)`,
    async run() {
      const config = join(dir, `tsconfig.${label}.json`)
      writeFileSync(
        config,
        JSON.stringify({ compilerOptions: { ...compilerOptions, ...options }, files: [file] }),
      )
      await run(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', config], {
        cwd: dir,
      })
    },
  }))
}
