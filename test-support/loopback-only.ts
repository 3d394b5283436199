// Refuses any outbound fetch that is not to this machine, so no test can reach the internet by accident.
const realFetch = globalThis.fetch

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

globalThis.fetch = (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
  const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
  if (!isLoopback(url.hostname)) {
    return Promise.reject(new TypeError(`test setup refused a request to a non-loopback host: ${url.host}`))
  }
  return realFetch(input, init)
}
