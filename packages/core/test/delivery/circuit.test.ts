// The Qualtrics circuit in memory: the shared behaviour suite, its options, and which failures are an
// outage.

import { describe, expect, it } from 'vitest'
import { ConfigError, RelayError } from '../../src/errors'
import { createCircuit, isOutage } from '../../src/server/delivery/circuit'
import { QualtricsApiError, QualtricsResponseError } from '../../src/server/qualtrics/errors'
import { describeCircuitContract } from './circuit-contract'
import { http, networkError, timeout } from './fake-qualtrics'

describeCircuitContract('createCircuit', (options) => createCircuit(options))

describe('createCircuit options', () => {
  it('lists every bad option with what it received', () => {
    expect(() => createCircuit({ failureThreshold: 0.5, probeBaseMs: 0, probeLeaseMs: Number.NaN })).toThrow(
      ConfigError,
    )
    expect(() => createCircuit({ failureThreshold: 0.5, probeBaseMs: 0, probeLeaseMs: Number.NaN }))
      .toThrowErrorMatchingInlineSnapshot(`
      [ConfigError: Invalid circuit options
        - failureThreshold: must be an integer >= 1 (Received: 0.5)
        - probeBaseMs: must be a number >= 1 (Received: 0)
        - probeLeaseMs: must be a number >= 1 (Received: NaN)]
    `)
  })
})

describe('isOutage', () => {
  const badResponse = new QualtricsResponseError({
    status: 200,
    kind: 'not-json',
    problem: 'not JSON',
    method: 'GET',
    path: '/API/v3/whoami',
  })
  it.each([
    ['500', http(500)(), true],
    ['502', http(502)(), true],
    ['503', http(503)(), true],
    ['504', http(504)(), true],
    ['a timeout', timeout(), true],
    ['a network error', networkError(), true],
    ['501 (a refusal)', http(501)(), false],
    ['400', http(400)(), false],
    ['404', http(404)(), false],
    ['429 (the rate limiter’s)', http(429)(), false],
    ['an unusable 200', badResponse, false],
    ['a refusal of the engine', new RelayError('HOST_NOT_ALLOWED', 'no', { status: 403 }), false],
    ['anything not a RelayError', new TypeError('bug'), false],
  ])('%s → %s', (_name, error, expected) => {
    expect(isOutage(error)).toBe(expected)
  })

  it('takes a QualtricsApiError for a 5xx as Qualtrics would send it', () => {
    const error = new QualtricsApiError({
      status: 503,
      statusText: 'Service Unavailable',
      method: 'GET',
      path: '/',
    })
    expect(isOutage(error)).toBe(true)
  })
})
