// The tarball checks of the consumer check, on made-up tarball contents: each rule catches what it is for.
import { describe, expect, it } from 'vitest'
import { bareImports, checkTarball, packageOf, type PackedFile } from './check-tarball'
import { packageDir, type Manifest } from './workspace'

const good: Manifest = {
  name: '@qualtrics-relay/example',
  version: '1.0.0',
  type: 'module',
  license: 'MIT',
  repository: { type: 'git', url: 'git+https://example.invalid/repo.git' },
  engines: { node: '>=20.19' },
  sideEffects: false,
  files: ['dist'],
  exports: {
    '.': { types: './dist/index.d.ts', default: './dist/index.js' },
    './tag.min.js': './dist/tag.min.js',
  },
  bin: { example: './bin/example.js' },
  dependencies: { valibot: '^1.5.0', express: '^5.3.0', '@types/express': '^5.0.6' },
}
const files: PackedFile[] = [
  { path: 'package.json', text: '{}' },
  { path: 'LICENSE', text: 'MIT' },
  { path: 'README.md', text: '# example' },
  { path: 'dist/index.js', text: "import * as v from 'valibot'\nimport { readFileSync } from 'node:fs'\n" },
  { path: 'dist/index.d.ts', text: "import type { Router } from 'express'\nexport { x } from './x.js'\n" },
  { path: 'dist/tag.min.js', text: '(()=>{})()' },
  { path: 'bin/example.js', text: "await import('../dist/index.js')\n" },
]
// express ships no types of its own: its declarations come from @types/express.
const options = { sourceDir: packageDir('proxy'), scriptTagBuild: 'dist/tag.min.js' }

describe('tarball checks', () => {
  it('passes a tarball that is right', () => {
    expect(checkTarball(good, files, options)).toEqual([])
  })

  it.each([
    [
      'a workspace: range left',
      { ...good, dependencies: { ...good.dependencies, '@qualtrics-relay/core': 'workspace:*' } },
      files,
      'still has a workspace: range',
    ],
    ['no engines', { ...good, engines: undefined }, files, 'has no "engines"'],
    ['no sideEffects', { ...good, sideEffects: undefined }, files, 'does not say sideEffects'],
    ['no LICENSE', good, files.filter((f) => f.path !== 'LICENSE'), 'has no LICENSE'],
    ['the sources', good, [...files, { path: 'src/cli.ts', text: '' }], 'ships src/'],
    [
      'types named but not packed',
      good,
      files.filter((f) => f.path !== 'dist/index.d.ts'),
      'names ./dist/index.d.ts, which is not in the tarball',
    ],
    ['a bin not packed', good, files.filter((f) => !f.path.startsWith('bin/')), 'names ./bin/example.js'],
    [
      'the script-tag build not exported',
      { ...good, exports: { '.': './dist/index.js' } },
      files,
      'dist/tag.min.js is not listed in "exports"',
    ],
    [
      'a runtime import not declared',
      { ...good, dependencies: { express: '^5.3.0', '@types/express': '^5.0.6' } },
      files,
      'dist/index.js imports valibot, not a dependency',
    ],
    [
      "declarations naming a package whose types users don't get",
      { ...good, dependencies: { valibot: '^1.5.0', express: '^5.3.0' } },
      files,
      'dist/index.d.ts refers to express, whose types are not a dependency (@types/express)',
    ],
  ] as [string, Manifest, PackedFile[], string][])('finds %s', (_, manifest, packed, problem) => {
    expect(checkTarball(manifest, packed, options).join('\n')).toContain(problem)
  })
})

describe('import scanning', () => {
  it('finds bare specifiers in static, dynamic and re-export forms and type references', () => {
    const text = [
      "import a from 'alpha'",
      "import { b } from '@scope/beta/sub'",
      "export * from 'gamma'",
      "import 'delta'",
      "const e = await import('epsilon')",
      '/// <reference types="zeta" />',
      "import x from './relative.js'",
    ].join('\n')
    expect(bareImports(text).sort()).toEqual([
      '@scope/beta/sub',
      'alpha',
      'delta',
      'epsilon',
      'gamma',
      'zeta',
    ])
  })

  it.each([
    ['@scope/name/sub/path', '@scope/name'],
    ['name/sub', 'name'],
    ['name', 'name'],
  ])('takes the package of %s', (specifier, name) => {
    expect(packageOf(specifier)).toBe(name)
  })
})
