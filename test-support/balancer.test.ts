import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { startBalancer, type Balancer } from './balancer'

interface Seen {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

const servers: Server[] = []
let balancer: Balancer | undefined

afterEach(async () => {
  await balancer?.close()
  balancer = undefined
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** An instance that answers with its name and records what reached it. */
async function instance(name: string, seen: Seen[] = []): Promise<string> {
  return listen((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      })
      res.writeHead(202, { 'Content-Type': 'text/plain', 'X-Instance': name }).end(name)
    })
  })
}

/** A loopback port nothing listens on any more: connections to it are refused. */
async function deadTarget(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise((r) => server.close(r))
  return `http://127.0.0.1:${port}`
}

async function names(url: string, count: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < count; i++) out.push(await (await fetch(url)).text())
  return out
}

describe('startBalancer', () => {
  it('forwards method, path, headers and body, and hands back status, headers and body', async () => {
    const seen: Seen[] = []
    balancer = await startBalancer({ targets: [await instance('a', seen)] })
    const answer = await fetch(`${balancer.url}/v1/batch?x=1`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Write-Key': 'wk' },
      body: '{"items":[1,2]}',
    })
    expect(answer.status).toBe(202)
    expect(answer.headers.get('x-instance')).toBe('a')
    expect(await answer.text()).toBe('a')
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/v1/batch?x=1', body: '{"items":[1,2]}' })
    expect(seen[0]?.headers['x-write-key']).toBe('wk')
    expect(seen[0]?.headers['content-type']).toBe('application/json')
    expect(seen[0]?.headers['x-forwarded-for']).toBe('127.0.0.1')
  })

  it('takes the targets in turn and counts requests per target', async () => {
    const a = await instance('a')
    const b = await instance('b')
    const c = await instance('c')
    balancer = await startBalancer({ targets: [a, b, c] })
    expect(await names(balancer.url, 6)).toEqual(['a', 'b', 'c', 'a', 'b', 'c'])
    expect(balancer.stats().targets).toEqual({
      [a]: { requests: 2, refused: 0, broken: 0 },
      [b]: { requests: 2, refused: 0, broken: 0 },
      [c]: { requests: 2, refused: 0, broken: 0 },
    })
  })

  it('skips a target that refuses the connection, so the client never sees the dead instance', async () => {
    const a = await instance('a')
    const dead = await deadTarget()
    balancer = await startBalancer({ targets: [a, dead] })
    const answers = await names(balancer.url, 4)
    expect(answers).toEqual(['a', 'a', 'a', 'a'])
    const stats = balancer.stats()
    expect(stats.targets[a]).toEqual({ requests: 4, refused: 0, broken: 0 })
    expect(stats.targets[dead]).toEqual({ requests: 0, refused: 2, broken: 0 })
    expect(stats.unavailable).toBe(0)
  })

  it('answers 503 when every target refuses', async () => {
    balancer = await startBalancer({ targets: [await deadTarget(), await deadTarget()] })
    const answer = await fetch(balancer.url, { method: 'POST', body: 'x' })
    expect(answer.status).toBe(503)
    expect(await answer.text()).toBe('balancer: no target took the connection (2 tried)')
    expect(balancer.stats().unavailable).toBe(1)
  })

  it('answers 502 when a target took the request and broke the connection, without trying another', async () => {
    let reached = 0
    const breaking = await listen((req) => {
      reached++
      req.socket.destroy()
    })
    const seen: Seen[] = []
    const a = await instance('a', seen)
    balancer = await startBalancer({ targets: [breaking, a] })
    const answer = await fetch(balancer.url, { method: 'POST', body: 'once' })
    expect(answer.status).toBe(502)
    expect(await answer.text()).toMatch(/^balancer: http:\/\/127\.0\.0\.1:\d+ broke the connection: /)
    expect(reached).toBe(1)
    expect(seen).toHaveLength(0)
    expect(balancer.stats().targets[breaking]).toEqual({ requests: 1, refused: 0, broken: 1 })
  })

  it('cuts the client off when a target breaks mid-answer', async () => {
    const breaking = await listen((_req, res) => {
      res.writeHead(200, { 'Content-Length': '100' })
      res.write('partial')
      setTimeout(() => res.socket?.destroy(), 20)
    })
    balancer = await startBalancer({ targets: [breaking] })
    await expect(fetch(balancer.url).then((r) => r.text())).rejects.toThrow()
    expect(balancer.stats().targets[breaking]).toEqual({ requests: 1, refused: 0, broken: 1 })
  })

  it('sends to the new list after setTargets', async () => {
    const a = await instance('a')
    const b = await instance('b')
    balancer = await startBalancer({ targets: [] })
    expect((await fetch(balancer.url)).status).toBe(503)
    balancer.setTargets([b])
    expect(await names(balancer.url, 2)).toEqual(['b', 'b'])
    balancer.setTargets([a, b])
    expect((await names(balancer.url, 4)).sort()).toEqual(['a', 'a', 'b', 'b'])
    expect(balancer.stats().targets[b]?.requests).toBe(4)
  })

  it('refuses a target that is not an http URL, naming what it received', async () => {
    await expect(startBalancer({ targets: ['127.0.0.1:80'] })).rejects.toThrowErrorMatchingInlineSnapshot(
      `[TypeError: balancer: targets must be http:// URLs (Received: "127.0.0.1:80")]`,
    )
  })
})
