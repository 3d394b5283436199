// Where the token may go: an https URL on a *.qualtrics.com host, or an origin the operator configured
// (the sandbox). Shared by the payload check (browser and proxy) and the API client.

const QUALTRICS_HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+qualtrics\.com$/

/** True when `url` parses and may receive the Qualtrics token. */
export function isQualtricsUrl(url: string, extraOrigins: readonly string[] = []): boolean {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return false
  }
  if (parsed.username || parsed.password) return false
  if (extraOrigins.includes(parsed.origin)) return true
  return parsed.protocol === 'https:' && parsed.port === '' && QUALTRICS_HOST.test(parsed.hostname)
}
