// Where the API token may go: `https://<label>.qualtrics.com` (any depth of subdomain, default port)
// and, when one is configured, the origin of `baseUrl` (the sandbox, a test server). The decision is the
// shared `isQualtricsUrl` (also used by the payload check), made on the parsed URL's href; the caller
// then sends exactly that parsed URL, so the check and the request can never disagree about the host
// (`https://iad1.qualtrics.com@evil.test`, backslashes, percent-encoded dots, …).

import { describeValue } from '../../errors'
import { isQualtricsUrl } from '../../payload/qualtrics-url'
import { HostNotAllowedError } from './errors'

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/** True for a DNS name under `qualtrics.com` (not `qualtrics.com` itself), e.g. `iad1.qualtrics.com`. */
export function isQualtricsHostname(hostname: string): boolean {
  if (!hostname.endsWith('.qualtrics.com')) return false
  const labels = hostname.slice(0, -'.qualtrics.com'.length).split('.')
  return labels.every((label) => LABEL.test(label))
}

/** Why a refused `url` may not receive the token (for the message only; the decision is isQualtricsUrl). */
function whyRefused(url: URL): string {
  if (url.username || url.password) return 'it carries user info (user:password@)'
  if (url.protocol !== 'https:') return `its scheme is ${url.protocol} (only https: is allowed)`
  if (url.port !== '') return `it names port ${url.port} (only the default port is allowed)`
  if (!isQualtricsHostname(url.hostname))
    return `${url.hostname || 'the host'} is not a host under qualtrics.com`
  return 'it is not an allowed origin'
}

/**
 * Parses `input` (relative inputs resolve against `base`) and returns the URL if the token may be sent
 * there; otherwise throws HostNotAllowedError. The message shows only the origin, never the query.
 */
export function parseAllowedUrl(
  input: string,
  allowedOrigin: string | undefined,
  what: string,
  base?: string,
): URL {
  let url: URL
  try {
    url = new URL(input, base)
  } catch {
    throw new HostNotAllowedError(
      `Refusing to send the Qualtrics API token: ${what} is not a valid absolute URL (Received: ${describeValue(input)})`,
    )
  }
  if (!isQualtricsUrl(url.href, allowedOrigin === undefined ? [] : [allowedOrigin])) {
    const reason = whyRefused(url)
    const allowed = `https://*.qualtrics.com${allowedOrigin === undefined ? '' : ` or ${allowedOrigin}`}`
    throw new HostNotAllowedError(
      `Refusing to send the Qualtrics API token to ${what}: ${reason}; only ${allowed} may receive it (Received: ${displayOrigin(url)})`,
    )
  }
  return url
}

/** The URL's origin for a message: no user info, no path, no query. */
function displayOrigin(url: URL): string {
  return url.origin === 'null' ? `${url.protocol}…` : url.origin
}
