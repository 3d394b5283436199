/**
 * A plain object the way Segment counts one (its tag is "Object"): arrays, dates, null and class
 * instances with their own tag are not. Shared by the mapping code and the payload checks.
 */
export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value == 'object' && Object.prototype.toString.call(value) == '[object Object]'
