// Path globs for fault and rate-limit targeting: `*` matches within one path segment, `**` across
// segments. Matched against the path without its query string, case-sensitively.

export function compilePathPattern(glob: string): RegExp {
  let source = ''
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] ?? ''
    if (ch === '*') {
      if (glob[i + 1] === '*') {
        source += '.*'
        i++
      } else {
        source += '[^/]*'
      }
    } else {
      source += ch.replace(/[.+?^${}()|[\]\\]/g, '\\$&')
    }
  }
  return new RegExp(`^${source}/?$`)
}

export interface RequestTarget {
  method: string
  path: string
  route: string | null
}

export interface TargetSpec {
  method?: string
  path?: string
  route?: string | string[]
}

export function compileTarget(spec: TargetSpec): (target: RequestTarget) => boolean {
  const method = spec.method?.toUpperCase()
  const path = spec.path === undefined ? undefined : compilePathPattern(spec.path)
  const routes = spec.route === undefined ? undefined : Array.isArray(spec.route) ? spec.route : [spec.route]
  return (target) =>
    (method === undefined || method === '*' || method === target.method.toUpperCase()) &&
    (path === undefined || path.test(target.path)) &&
    (routes === undefined || (target.route !== null && routes.includes(target.route)))
}
