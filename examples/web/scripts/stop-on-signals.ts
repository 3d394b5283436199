// Ctrl-C (SIGINT) and SIGTERM for the start scripts: say what stops, close it, exit 0 (1 when the
// close failed); a second signal exits at once.

export function stopOnSignals(what: string, close: () => Promise<void>, onStop: () => void = () => {}): void {
  let stopping = false
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting without waiting\n`)
      process.exit(1)
    }
    stopping = true
    onStop()
    process.stdout.write(`Stopping ${what}…\n`)
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`Shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}
