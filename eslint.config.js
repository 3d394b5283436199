// ESLint flat config: typescript-eslint with type information for the rules that need it.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const serverOnly = {
  patterns: [
    {
      group: [
        '@qualtrics-relay/core/server',
        '@qualtrics-relay/core/sqlite',
        '@qualtrics-relay/core/postgres',
        '**/server/**',
        '**/sqlite/**',
        '**/postgres/**',
      ],
      message: 'Browser code must not import the server entry of core.',
    },
  ],
  paths: ['node:fs', 'node:http', 'node:crypto', 'node:path', 'fs', 'http', 'crypto', 'path'].map((name) => ({
    name,
    message: 'Browser code must not import Node built-ins.',
  })),
}

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/coverage/**', '.artifacts/**', '**/bin/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The browser-safe entry of core, the browser plugin and the demo's page code.
    files: ['packages/core/src/**/*.ts', 'packages/browser-plugin/src/**/*.ts', 'examples/web/src/**/*.ts'],
    ignores: ['packages/core/src/server/**', 'packages/core/src/sqlite/**', 'packages/core/src/postgres/**'],
    rules: { 'no-restricted-imports': ['error', serverOnly] },
  },
)
