// Scratch apps outside the workspace, installed with npm from the packed tarballs, as a user would.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { run, ScriptError } from './run'
import { packageDir, REPO_ROOT } from './workspace'

/** A fresh folder under the system's temp folder (never inside the workspace, whose node_modules would
 *  resolve what the tarballs forgot to declare). */
export function makeScratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `qr-${prefix}-`))
  if (!relative(REPO_ROOT, dir).startsWith('..')) {
    throw new ScriptError(`the scratch folder ${dir} is inside the workspace; set TMPDIR elsewhere`)
  }
  return dir
}

export function removeScratchDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

/** Writes a minimal ESM app (`"type": "module"`) in `dir` and npm-installs `specs` into it. */
export async function npmInstall(dir: string, specs: string[]): Promise<void> {
  mkdirSync(dir, { recursive: true })
  const manifest = join(dir, 'package.json')
  if (!existsSync(manifest)) {
    writeFileSync(manifest, JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }, null, 2))
  }
  // Install scripts are skipped: the only one among these dependencies is better-sqlite3's native build,
  // handled below.
  await run(
    'npm',
    [
      'install',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--no-update-notifier',
      '--loglevel',
      'error',
      ...specs,
    ],
    { cwd: dir },
  )
  await provideBetterSqlite3Binary(dir)
}

const BINARY = join('build', 'Release', 'better_sqlite3.node')

/**
 * better-sqlite3 compiles its native module at install (no prebuilt binary can be downloaded here), which
 * takes about two minutes. When the app got the same version as the workspace, the workspace's build of it
 * (same Node, same machine) is copied in instead; otherwise it is compiled with `npm rebuild`.
 */
async function provideBetterSqlite3Binary(dir: string): Promise<void> {
  const installed = join(dir, 'node_modules', 'better-sqlite3')
  if (!existsSync(installed) || existsSync(join(installed, BINARY))) return
  const version = (folder: string) =>
    (JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { version: string }).version
  const require = createRequire(join(packageDir('proxy'), 'package.json'))
  const workspaceCopy = dirname(require.resolve('better-sqlite3/package.json'))
  if (version(workspaceCopy) === version(installed) && existsSync(join(workspaceCopy, BINARY))) {
    mkdirSync(join(installed, 'build', 'Release'), { recursive: true })
    copyFileSync(join(workspaceCopy, BINARY), join(installed, BINARY))
  } else {
    await run('npm', ['rebuild', 'better-sqlite3'], { cwd: dir })
  }
}
