// Reads the proxy's public settings (`GET /v1/settings`) without trusting them: every mapping is checked,
// and each trigger is parsed again from its text so it is evaluated exactly as the proxy would.
import {
  checkMapping,
  compileMapping,
  describeValue,
  isActionKey,
  parseTrigger,
  RelayError,
  type FieldIssue,
  type MappingSpec,
} from '@qualtrics-relay/core'
import { ProxyError } from './errors'

export interface ProxySettings {
  mappings: MappingSpec[]
  workflowOrigins: string[]
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** Checks a settings body; throws a ProxyError listing every problem. */
export function parseProxySettings(body: unknown): ProxySettings {
  const issues: FieldIssue[] = []
  const mappings: MappingSpec[] = []
  const workflowOrigins: string[] = []
  if (!isObject(body) || !Array.isArray(body.mappings)) {
    throw unusable([{ path: 'mappings', message: `must be an array (Received: ${describeValue(body)})` }])
  }
  body.mappings.forEach((raw: unknown, index) => {
    const at = `mappings.${index}`
    if (!isObject(raw))
      return void issues.push({ path: at, message: `must be an object (Received: ${describeValue(raw)})` })
    const { id, name, action, triggerText, fields } = raw
    const before = issues.length
    if (typeof id !== 'string' || id === '')
      issues.push({ path: `${at}.id`, message: `must be a string (Received: ${describeValue(id)})` })
    if (!isActionKey(action))
      issues.push({ path: `${at}.action`, message: `is not an action (Received: ${describeValue(action)})` })
    if (!isObject(fields)) {
      issues.push({ path: `${at}.fields`, message: `must be an object (Received: ${describeValue(fields)})` })
    } else {
      for (const issue of checkMapping(fields))
        issues.push({ ...issue, path: `${at}.fields${issue.path ? `.${issue.path}` : ''}` })
    }
    let trigger: MappingSpec['trigger'] | undefined
    if (typeof triggerText !== 'string') {
      issues.push({
        path: `${at}.triggerText`,
        message: `must be a string (Received: ${describeValue(triggerText)})`,
      })
    } else {
      try {
        trigger = parseTrigger(triggerText)
      } catch (error) {
        issues.push({
          path: `${at}.triggerText`,
          message: error instanceof RelayError ? error.message : String(error),
        })
      }
    }
    if (issues.length > before || trigger === undefined) return
    mappings.push({
      id: id as string,
      name: typeof name === 'string' ? name : (id as string),
      action: action as MappingSpec['action'],
      trigger,
      triggerText: triggerText as string,
      fields: fields as Record<string, unknown>,
      // Compiled here from the checked fields, like the trigger, rather than trusting the served program.
      program: compileMapping(fields),
    })
  })
  if (body.workflowOrigins !== undefined) {
    if (!Array.isArray(body.workflowOrigins) || !body.workflowOrigins.every((o) => typeof o === 'string')) {
      issues.push({
        path: 'workflowOrigins',
        message: `must be a list of origins (Received: ${describeValue(body.workflowOrigins)})`,
      })
    } else workflowOrigins.push(...(body.workflowOrigins as string[]))
  }
  if (issues.length > 0) throw unusable(issues)
  return { mappings, workflowOrigins }
}

function unusable(issues: FieldIssue[]): ProxyError {
  const lines = issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')
  return new ProxyError('DELIVERY_FAILED', `The proxy sent settings this plugin cannot use:\n${lines}`, {
    retryable: false,
  })
}
