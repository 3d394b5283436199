// A fetch that behaves like a browser's on a cross-origin page, for jsdom (whose fetch is Node's and
// knows no CORS): it sends the page's Origin, preflights what is not a "simple" request, and turns an
// answer without Access-Control-Allow-Origin for the page into the network error a browser gives
// ("Failed to fetch") — so a test sees exactly what page code sees.

const SIMPLE_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'])
const SIMPLE_HEADERS = new Set(['accept', 'accept-language', 'content-language', 'content-type'])

function failed(): TypeError {
  return new TypeError('Failed to fetch')
}

function allows(response: Response, origin: string): boolean {
  const allowed = response.headers.get('access-control-allow-origin')
  return allowed === origin || allowed === '*'
}

export function corsFetch(pageOrigin: string): typeof fetch {
  return async (input, init = {}) => {
    const method = (init.method ?? 'GET').toUpperCase()
    const headers = new Headers(init.headers)
    const type = headers.get('content-type')?.split(';')[0]?.trim().toLowerCase()
    const simple =
      ['GET', 'HEAD', 'POST'].includes(method) &&
      [...headers.keys()].every((h) => SIMPLE_HEADERS.has(h)) &&
      (type === undefined || SIMPLE_TYPES.has(type))
    if (!simple) {
      const preflight = await fetch(input, {
        method: 'OPTIONS',
        headers: {
          Origin: pageOrigin,
          'Access-Control-Request-Method': method,
          'Access-Control-Request-Headers': [...headers.keys()].join(','),
        },
      }).catch(() => undefined)
      if (!preflight || !preflight.ok || !allows(preflight, pageOrigin)) throw failed()
    }
    headers.set('Origin', pageOrigin)
    const response = await fetch(input, { ...init, headers })
    if (!allows(response, pageOrigin)) throw failed()
    return response
  }
}
