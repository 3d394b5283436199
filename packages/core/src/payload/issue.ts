import { describeValue, type FieldIssue } from '../errors'

/** One problem with the value received: "`path`: `expected` (Received: …)". */
export const issue = (path: string, expected: string, received: unknown): FieldIssue => ({
  path,
  message: `${expected} (Received: ${describeValue(received)})`,
})
