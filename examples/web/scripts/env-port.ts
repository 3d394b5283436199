// A port from the environment for the start scripts: a bad value stops the script, saying which
// variable and what it held.

/** `process.env[name]` as a port, or `fallback` when unset. With `lowest` 0, 0 lets the system pick. */
export function portFromEnv(name: string, fallback: number, lowest: 0 | 1 = 1): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < lowest || n > 65535) {
    process.stderr.write(
      `${name} must be a port number from ${lowest} to 65535 (Received: ${JSON.stringify(raw)})\n`,
    )
    process.exit(2)
  }
  return n
}
