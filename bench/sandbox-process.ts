// A sandbox in a process of its own, for benchmarks that measure the proxy's CPU: in production the
// Qualtrics side does not run on the proxy's cores. Prints one JSON line (url, token, ids) once
// listening; stops when its stdin closes (the parent went away) or on SIGTERM.
import { startSandbox } from '@qualtrics-relay/sandbox'

const sandbox = await startSandbox({ host: '127.0.0.1', port: 0, rateLimit: { enabled: false } })
const { url, token, directoryId, mailingListId } = sandbox
process.stdout.write(`${JSON.stringify({ url, token, directoryId, mailingListId })}\n`)
const stop = () => void sandbox.close().then(() => process.exit(0))
process.stdin.on('end', stop).resume()
process.on('SIGTERM', stop)
