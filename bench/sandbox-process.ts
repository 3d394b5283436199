// A sandbox in a process of its own, for benchmarks that measure the proxy's CPU: in production the
// Qualtrics side does not run on the proxy's cores. Prints one JSON line (url, token, ids) once
// listening; stops when its stdin closes (the parent went away) or on SIGTERM. SANDBOX_OPTIONS (JSON)
// adds sandbox options, e.g. `{"rateLimit":{"perMinute":15000,"burst":50}}`; rate limits are off
// otherwise.
import { startSandbox, type SandboxOptions } from '@qualtrics-relay/sandbox'

const extra = JSON.parse(process.env['SANDBOX_OPTIONS'] ?? '{}') as SandboxOptions
const sandbox = await startSandbox({ host: '127.0.0.1', port: 0, rateLimit: { enabled: false }, ...extra })
const { url, token, directoryId, mailingListId, workflowUrl } = sandbox
process.stdout.write(`${JSON.stringify({ url, token, directoryId, mailingListId, workflowUrl })}\n`)
const stop = () => void sandbox.close().then(() => process.exit(0))
process.stdin.on('end', stop).resume()
process.on('SIGTERM', stop)
