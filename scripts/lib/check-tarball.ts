// What every published tarball must get right, checked on the tarball itself (unpacked), not on the
// workspace: the manifest's fields, the files its exports/types/bin name, and the imports of the code
// and declarations it ships, each of which must be a declared dependency.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { builtinModules, createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { run } from './run'
import type { Manifest } from './workspace'

export interface PackedFile {
  /** Path inside the package (`dist/index.js`). */
  path: string
  text: string
}

/** Imports a bin makes only where `src/` is present (in the repository), which a tarball never ships
 *  (checked below). */
const DEV_ONLY_IMPORTS = new Set(['tsx/esm/api'])

/** Unpacks a tarball and lists its text files. */
export async function readTarball(tarball: string): Promise<{ manifest: Manifest; files: PackedFile[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'qr-tarball-'))
  try {
    await run('tar', ['-xzf', tarball, '-C', dir])
    const root = join(dir, 'package')
    const files: PackedFile[] = []
    const walk = (folder: string) => {
      for (const name of readdirSync(folder)) {
        const full = join(folder, name)
        if (statSync(full).isDirectory()) walk(full)
        else files.push({ path: relative(root, full), text: readFileSync(full, 'utf8') })
      }
    }
    walk(root)
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest
    return { manifest, files }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Every file path an `exports` value names (through nested conditions), without the leading `./`. */
function exportTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (value && typeof value === 'object') return Object.values(value).flatMap(exportTargets)
  return []
}

const IMPORT_PATTERNS = [
  /(?:^|[\s;}])(?:import|export)\s[^'"`;]*?\sfrom\s*['"]([^'"]+)['"]/g,
  /(?:^|[\s;])import\s*['"]([^'"]+)['"]/g,
  /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\/\/\/\s*<reference\s+types=['"]([^'"]+)['"]/g,
]

/** Bare module specifiers in a file's code (comments with `import` in them may match: harmless). */
export function bareImports(text: string): string[] {
  const found = new Set<string>()
  for (const pattern of IMPORT_PATTERNS)
    for (const match of text.matchAll(pattern)) {
      const specifier = match[1]!
      if (!specifier.startsWith('.') && !specifier.startsWith('/')) found.add(specifier)
    }
  return [...found]
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!
}

const isBuiltin = (specifier: string) =>
  specifier.startsWith('node:') || builtinModules.includes(packageOf(specifier))

/** `@types/express` for `express`, `@types/scope__name` for `@scope/name`. */
const typesPackage = (name: string) => `@types/${name.replace(/^@/, '').replace('/', '__')}`

/** Whether the installed copy of `name` (found from the folder `from`) ships its own declarations. */
export function shipsOwnTypes(name: string, from: string): boolean {
  // The package's folder by Node's lookup paths: `name/package.json` may be closed by its exports map.
  const paths = createRequire(join(from, 'package.json')).resolve.paths(name) ?? []
  const folder = paths.map((p) => join(p, name)).find((p) => existsSync(join(p, 'package.json')))
  if (folder === undefined) return false
  const m = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as Record<string, unknown>
  if (m.types || m.typings) return true
  // Types named in exports (our own packages: in the exports they publish).
  if (JSON.stringify([m.exports, m.publishConfig]).includes('"types"')) return true
  return existsSync(join(folder, 'index.d.ts'))
}

export interface TarballCheckOptions {
  /** The workspace folder of the package, to see whether its dependencies ship their own types. */
  sourceDir: string
  /** The script-tag build that must be listed in `exports` (browser plugin). */
  scriptTagBuild?: string
}

/** Every problem of one unpacked tarball; empty when it is right. */
export function checkTarball(
  manifest: Manifest,
  files: PackedFile[],
  options: TarballCheckOptions,
): string[] {
  const problems: string[] = []
  const has = new Set(files.map((f) => f.path))
  const name = manifest.name

  const text = JSON.stringify(manifest)
  if (text.includes('workspace:')) problems.push(`${name}: package.json still has a workspace: range`)
  for (const field of ['license', 'repository', 'engines', 'files', 'type'] as const)
    if (manifest[field] === undefined) problems.push(`${name}: package.json has no "${field}"`)
  if (manifest.sideEffects === undefined) problems.push(`${name}: package.json does not say sideEffects`)
  if (!has.has('LICENSE')) problems.push(`${name}: the tarball has no LICENSE file`)
  if (!has.has('README.md')) problems.push(`${name}: the tarball has no README.md`)
  if ([...has].some((path) => path.startsWith('src/')))
    problems.push(`${name}: the tarball ships src/ (its bin would run the sources through tsx)`)

  const named = [
    ...exportTargets(manifest.exports),
    ...exportTargets(manifest.bin),
    ...exportTargets(manifest.types),
    ...exportTargets(manifest.main),
  ]
  if (manifest.exports === undefined) problems.push(`${name}: package.json has no "exports"`)
  for (const target of named) {
    const path = target.replace(/^\.\//, '')
    if (!has.has(path)) problems.push(`${name}: package.json names ${target}, which is not in the tarball`)
  }
  const exported = exportTargets(manifest.exports).map((t) => t.replace(/^\.\//, ''))
  if (options.scriptTagBuild && !exported.includes(options.scriptTagBuild))
    problems.push(`${name}: the script-tag build ${options.scriptTagBuild} is not listed in "exports"`)

  const runtime = new Set([
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
    name,
  ])
  for (const file of files) {
    const isDeclaration = file.path.endsWith('.d.ts')
    if (!isDeclaration && !/\.(m?js)$/.test(file.path)) continue
    for (const specifier of bareImports(file.text)) {
      if (isBuiltin(specifier)) continue
      const pkg = packageOf(specifier)
      if (!isDeclaration) {
        if (!runtime.has(pkg) && !DEV_ONLY_IMPORTS.has(specifier))
          problems.push(`${name}: ${file.path} imports ${specifier}, not a dependency or peer dependency`)
        continue
      }
      // Declarations: users' TypeScript resolves the package's own types, or its @types package.
      const ownTypes = runtime.has(pkg) && (pkg === name || shipsOwnTypes(pkg, options.sourceDir))
      if (!ownTypes && !runtime.has(typesPackage(pkg)))
        problems.push(
          `${name}: ${file.path} refers to ${specifier}, whose types are not a dependency (${runtime.has(pkg) ? typesPackage(pkg) : pkg})`,
        )
    }
  }
  return problems
}
