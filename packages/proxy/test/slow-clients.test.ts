// Slow and greedy clients: header and request deadlines answer 408 (which a plugin sends again), and one
// address cannot hold more than server.maxConnectionsPerAddress connections. The figures at 1,024
// descriptors are in the reliability suite (reliability/resources.test.ts).
import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request, startHarness, type Harness } from './helpers'

let h: Harness
let port: number

beforeAll(async () => {
  h = await startHarness({
    config: {
      server: {
        port: 0,
        host: '127.0.0.1',
        headersTimeoutMs: 1_000,
        requestTimeoutMs: 1_500,
        maxConnectionsPerAddress: 3,
      },
    },
  })
  port = Number(new URL(h.url).port)
})
afterAll(() => h.close())

/** Opens a connection from `localAddress`, writes `text`, and resolves with all it receives until closed. */
function exchange(text: string, localAddress = '127.0.0.1'): { socket: Socket; closed: Promise<string> } {
  const socket = connect({ host: '127.0.0.1', port, localAddress })
  let received = ''
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk))
  socket.on('error', () => undefined)
  socket.write(text)
  return { socket, closed: new Promise((resolve) => socket.once('close', () => resolve(received))) }
}

describe('deadlines', () => {
  it('answers 408 to headers that never finish', async () => {
    const answer = await exchange('POST /v1/batch HTTP/1.1\r\nHost: relay\r\nX-Slow: ').closed
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/)
    expect(answer).toContain('"code":"TIMEOUT"')
  })

  it('answers 408 to a body that trickles past the request deadline', async () => {
    const { socket, closed } = exchange(
      'POST /v1/batch HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{',
    )
    const drip = setInterval(() => socket.writable && socket.write(' '), 100)
    const answer = await closed
    clearInterval(drip)
    expect(answer).toMatch(/^HTTP\/1\.1 408 /)
  })
})

describe('connections per address', () => {
  it('closes connections beyond the cap of one address and still serves others', async () => {
    const held = Array.from({ length: 3 }, () =>
      exchange('GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Slow: ', '127.0.0.5'),
    )
    await new Promise((r) => setTimeout(r, 100))
    const extra = exchange('GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n', '127.0.0.5')
    expect(await extra.closed).toBe('') // closed at once, unanswered
    expect((await request(`${h.url}/healthz`)).status).toBe(200)
    expect((await request(`${h.url}/metrics`)).text).toMatch(/^relay_connections_refused_total 1$/m)
    for (const { socket } of held) socket.destroy()
  })
})
