// Every answer of the routes Qualtrics' published API definition covers, checked field by field (names,
// types, required) against the schema extract in fixtures/qualtrics-oas-schemas.json (a copy of
// shared/spec/qualtrics-oas/schemas.json: read from a client generated from Qualtrics' OpenAPI 3.0
// document). Routes the definition does not cover (whoami, directories, transactions, workflows) are
// not checked here.
import { readFileSync } from 'node:fs'
import { beforeEach, describe, expect, it } from 'vitest'
import { call, dir, setupSandbox, type Reply } from './support'

interface SchemaField {
  json: string
  javaType: string
}
interface Schema {
  fields: SchemaField[]
  required: string[]
}
const extract = JSON.parse(
  readFileSync(new URL('fixtures/qualtrics-oas-schemas.json', import.meta.url), 'utf8'),
) as { schemas: Record<string, Schema> }
const schemas = extract.schemas

/** Problems of `value` against the Java type of the generated client ("" when it conforms). */
function checkType(javaType: string, value: unknown, path: string): string[] {
  const list = /^List<(.+)>$/.exec(javaType)
  if (list) {
    if (!Array.isArray(value)) return [`${path}: expected an array, got ${JSON.stringify(value)}`]
    return value.flatMap((item, i) => checkType(list[1]!, item, `${path}[${i}]`))
  }
  const map = /^Map<String, (.+)>$/.exec(javaType)
  if (map) {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return [`${path}: expected an object, got ${JSON.stringify(value)}`]
    if (map[1] === 'Object') return []
    return Object.entries(value).flatMap(([k, v]) => checkType(map[1]!, v, `${path}.${k}`))
  }
  switch (javaType) {
    case 'String':
    case 'OffsetDateTime':
    case 'URI':
      return typeof value === 'string' ? [] : [`${path}: expected a string, got ${JSON.stringify(value)}`]
    case 'Long':
    case 'Integer':
      return Number.isInteger(value) ? [] : [`${path}: expected an integer, got ${JSON.stringify(value)}`]
    case 'Float':
      return typeof value === 'number' ? [] : [`${path}: expected a number, got ${JSON.stringify(value)}`]
    case 'Boolean':
      return typeof value === 'boolean' ? [] : [`${path}: expected a boolean, got ${JSON.stringify(value)}`]
    default:
      return checkSchema(javaType, value, path)
  }
}

/** Every field known to the schema, of its type; every required field present. */
function checkSchema(name: string, value: unknown, path = name): string[] {
  const schema = schemas[name]
  if (schema === undefined) return [`${path}: no schema ${name} in the extract`]
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return [`${path}: expected an object (${name}), got ${JSON.stringify(value)}`]
  const problems: string[] = []
  const fields = new Map(schema.fields.map((f) => [f.json, f.javaType]))
  for (const [key, v] of Object.entries(value)) {
    const type = fields.get(key)
    if (type === undefined) problems.push(`${path}.${key}: not a field of ${name}`)
    // An optional field may be null (the generated client reads null as absent).
    else if (v !== null || schema.required.includes(key))
      problems.push(...checkType(type, v, `${path}.${key}`))
  }
  for (const key of schema.required) if (!(key in value)) problems.push(`${path}.${key}: required by ${name}`)
  return problems
}

function expectShape(reply: Reply, schema: string): void {
  expect(checkSchema(schema, reply.json)).toEqual([])
}

const fixture = setupSandbox()

describe('the checker itself', () => {
  it('reports unknown fields, wrong types and missing required fields', () => {
    expect(
      checkSchema('GetDirectoryContactResponse', {
        result: { contactId: 'CID_1', creationDate: '2026-01-01', unsubscribed: false },
      }),
    ).toEqual([
      'GetDirectoryContactResponse.result.creationDate: expected an integer, got "2026-01-01"',
      'GetDirectoryContactResponse.result.unsubscribed: not a field of Result5',
      'GetDirectoryContactResponse.meta: required by GetDirectoryContactResponse',
    ])
  })
})

describe('answers of the published routes conform to the definition', () => {
  const sb = () => fixture.sb
  let contactId = ''

  beforeEach(async () => {
    const created = await call(sb(), 'POST', dir(sb(), `/mailinglists/${sb().mailingListId}/contacts`), {
      body: {
        firstName: 'Jane',
        lastName: 'Doe',
        email: 'jane@example.com',
        phone: '555-0100',
        extRef: 'u1',
        language: 'EN',
        unsubscribed: true,
        embeddedData: { tier: 'gold' },
      },
    })
    expectShape(created, 'CreateContactResponse')
    contactId = created.json.result.id as string
  })

  it('create contact (directory), with embedded data of every scalar type', async () => {
    const reply = await call(sb(), 'POST', dir(sb(), '/contacts'), {
      body: { extRef: 'u2', embeddedData: { visits: 3, vip: true, tier: 'gold' } },
    })
    expectShape(reply, 'CreateDirectoryContactResponse')
  })

  it('search: a leaf, an and group, with embedded data, across pages', async () => {
    await call(sb(), 'POST', dir(sb(), '/contacts'), {
      body: { extRef: 'u2', lastName: 'Doe', embeddedData: { visits: 3, vip: true } },
    })
    const leaf = { filterType: 'lastName', comparison: 'eq', value: 'doe' }
    const first = await call(sb(), 'POST', dir(sb(), '/contacts/search?pageSize=1&includeEmbedded=true'), {
      body: { filter: leaf },
    })
    expectShape(first, 'SearchDirectoryContactResponse')
    expect(first.json.result.skipToken).toBe('MQ==')
    const second = await call(
      sb(),
      'POST',
      dir(sb(), '/contacts/search?pageSize=1&includeEmbedded=true&skipToken=MQ%3D%3D'),
      { body: { filter: leaf } },
    )
    expectShape(second, 'SearchDirectoryContactResponse')
    expect(second.json.result.elements[0].embeddedData).toEqual({ visits: '3', vip: 'true' })
    const group = await call(sb(), 'POST', dir(sb(), '/contacts/search'), {
      body: {
        filter: {
          conjunction: 'and',
          filters: [
            { filterType: 'extRef', comparison: 'eq', value: 'u1' },
            { filterType: 'email', comparison: 'eq', value: 'JANE@example.com' },
          ],
        },
      },
    })
    expectShape(group, 'SearchDirectoryContactResponse')
    expect(group.json.result.elements).toHaveLength(1)
  })

  it('get contact', async () => {
    const reply = await call(sb(), 'GET', dir(sb(), `/contacts/${contactId}`))
    expectShape(reply, 'GetDirectoryContactResponse')
    expect(reply.json.result.directoryUnsubscribed).toBe(true)
  })

  it('update contact', async () => {
    const reply = await call(sb(), 'PUT', dir(sb(), `/contacts/${contactId}`), {
      body: { firstName: 'Janet', embeddedData: { visits: 4 } },
    })
    expectShape(reply, 'UpdateDirectoryContactResponse')
  })

  it('list contacts', async () => {
    const reply = await call(sb(), 'GET', dir(sb(), '/contacts?pageSize=1'))
    expectShape(reply, 'ListDirectoryContactsResponse')
  })

  it('list the contacts of a mailing list', async () => {
    const reply = await call(sb(), 'GET', dir(sb(), `/mailinglists/${sb().mailingListId}/contacts`))
    expectShape(reply, 'ListContactsInContactListResponse')
  })

  it.each([
    ['a refused filter (400)', 'POST', '/contacts/search', { filter: { conjunction: 'or', filters: [] } }],
    ['an unknown contact (404)', 'GET', '/contacts/CID_nope', undefined],
    ['a body that is not a contact (400)', 'POST', '/contacts', { firstName: 5 }],
  ] as const)('errors: %s', async (_name, method, path, body) => {
    const reply = await call(sb(), method, dir(sb(), path), body === undefined ? {} : { body })
    expect(reply.status).toBeGreaterThanOrEqual(400)
    expectShape(reply, 'DefaultErrorResponse')
  })

  it('errors: a missing token (401)', async () => {
    const reply = await call(sb(), 'GET', dir(sb(), `/contacts/${contactId}`), { token: null })
    expect(reply.status).toBe(401)
    expectShape(reply, 'DefaultErrorResponse')
  })
})
