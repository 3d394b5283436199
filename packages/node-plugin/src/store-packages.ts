// The durable stores need packages that are optional peer dependencies: better-sqlite3 for
// `storage.sqlitePath`, pg for `storage.databaseUrl`. Whether the one asked for is installed is checked
// when the options are read, by resolving it from where core's store imports it, so a missing package is
// a configuration error at construction instead of a failure of the first event (the store itself is
// opened later, on first use).
import { createRequire } from 'node:module'

/** Resolves `specifier` as Node would from the file `from` (a path or file URL); throws when it cannot. */
export type ModuleResolver = (specifier: string, from: string) => string

const nodeResolve: ModuleResolver = (specifier, from) => createRequire(from).resolve(specifier)

/** Why the store of `storeEntry` cannot be used here (`pkg` is missing), or undefined when it can. */
export function missingStorePackage(
  pkg: string,
  storeEntry: string,
  resolve: ModuleResolver = nodeResolve,
): string | undefined {
  try {
    resolve(pkg, resolve(storeEntry, import.meta.url))
    return undefined
  } catch (error) {
    const code = (error as { code?: unknown }).code
    return (
      `needs the ${pkg} package, which is not installed: add it to your app ` +
      `(npm install ${pkg}) or leave storage out for the in-memory queue (Received: ${String(code ?? error)})`
    )
  }
}
