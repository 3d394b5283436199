// The publishable packages of this workspace, and how to build and pack them the way a release would:
// `pnpm build`, then `pnpm pack` (which rewrites `workspace:` ranges and applies `publishConfig`).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run, ScriptError } from './run'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Folders under packages/ that are published to npm (examples and the root are private). */
export const PUBLISHABLE = ['core', 'sandbox', 'proxy', 'browser-plugin', 'node-plugin'] as const
export type PublishableDir = (typeof PUBLISHABLE)[number]

export interface Manifest {
  name: string
  version: string
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  [key: string]: unknown
}

export function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest
}

export const packageDir = (dir: PublishableDir) => join(REPO_ROOT, 'packages', dir)

/** A version pinned in the workspace (root or a package's devDependencies), so scratch apps match it. */
export function workspaceVersion(name: string): string {
  for (const dir of [REPO_ROOT, ...PUBLISHABLE.map(packageDir)]) {
    const m = readManifest(dir)
    const range = m.devDependencies?.[name] ?? m.dependencies?.[name]
    if (range && !range.startsWith('workspace:')) return range
  }
  throw new ScriptError(`${name} is not a dependency of the workspace`)
}

/** `pnpm build` at the root: every package's dist (and the browser plugin's script-tag build). */
export async function buildPackages(): Promise<void> {
  await run('pnpm', ['build'], { cwd: REPO_ROOT })
}

/** `pnpm pack` of each package into `destination`; the tarball path of each, by folder. */
export async function packPackages(
  destination: string,
  dirs: readonly PublishableDir[] = PUBLISHABLE,
): Promise<Record<PublishableDir, string>> {
  const tarballs = {} as Record<PublishableDir, string>
  for (const dir of dirs) {
    const { stdout } = await run('pnpm', ['pack', '--pack-destination', destination], {
      cwd: packageDir(dir),
    })
    const file = stdout.trim().split('\n').pop()!.trim()
    if (!file.endsWith('.tgz')) throw new ScriptError(`pnpm pack of ${dir} printed no tarball:\n${stdout}`)
    tarballs[dir] = file.startsWith('/') ? file : join(destination, file)
  }
  return tarballs
}
