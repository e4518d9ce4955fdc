import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import t, { type Test } from 'tap'
import type { Envelope } from '../../../protocol/index.js'
import { MAX_BATCH, PushHook, type PushHookOptions } from '../../../broker/push/push-hook.js'
import { waitFor } from '../../helpers/wait-for.js'

async function receiver (t: Test): Promise<{ url: string, bodies: any[] }> {
  const bodies: any[] = []
  const http = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => { bodies.push(JSON.parse(Buffer.concat(chunks).toString())); res.writeHead(200).end() })
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { http.closeAllConnections(); http.close(() => resolve()) }))
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/`, bodies }
}

function hook (t: Test, url: string, options: Partial<PushHookOptions> = {}): PushHook {
  const h = new PushHook({
    url,
    secret: null,
    batchMs: 20,
    maxAttempts: 2,
    backoffMs: 10,
    timeoutMs: 2000,
    maxQueue: 1000,
    isOnline: () => false,
    tokensOf: async () => [],
    logger: pino({ level: 'silent' }),
    ...options
  })
  t.teardown(() => h.close())
  return h
}

let seq = 0
function envelope (from: string, text = 'hi'): Envelope {
  seq++
  return { id: `g:aaaaaaaaaaaa/${seq}`, conv: 'g:aaaaaaaaaaaa', seq, from, device: 'd', cid: `c${seq}`, ts: Date.now(), kind: 'text', body: { text } }
}

t.test('stored() notifies offline recipients only: never the author, the online, or for system events', async (t) => {
  const r = await receiver(t)
  const h = hook(t, r.url, { isOnline: (user) => user === 'bob' })
  h.stored(envelope('alice'), ['alice', 'bob', 'carol'])
  h.stored(envelope('$system'), ['bob', 'carol'])
  await waitFor(() => r.bodies.length === 1, 'a POST')
  t.equal(r.bodies[0].user, 'carol')
  t.equal(r.bodies[0].notifications.length, 1)
  t.equal(r.bodies[0].notifications[0].from, 'alice')
})

t.test('a full batch goes out at once', async (t) => {
  const r = await receiver(t)
  const h = hook(t, r.url, { batchMs: 60_000 })
  for (let i = 0; i < MAX_BATCH; i++) h.stored(envelope('alice'), ['bob'])
  await waitFor(() => r.bodies.length === 1, 'the POST of a full batch')
  t.equal(r.bodies[0].notifications.length, MAX_BATCH)
})

t.test('beyond maxQueue notifications are dropped and counted', async (t) => {
  const r = await receiver(t)
  const h = hook(t, r.url, { batchMs: 60_000, maxQueue: 2 })
  const dropped: Array<[number, string]> = []
  h.on('dropped', (count, reason) => dropped.push([count, reason]))
  h.stored(envelope('alice'), ['bob', 'carol', 'dave'])
  t.equal(h.queued, 2)
  t.same(dropped, [[1, 'queue']])
  await h.close()
  t.same(dropped, [[1, 'queue'], [2, 'close']], 'close() drops what waits, and clears its timers')
  t.equal(h.queued, 0)
  h.stored(envelope('alice'), ['bob'])
  t.equal(h.queued, 0, 'a closed hook takes nothing')
  t.equal(r.bodies.length, 0)
})

t.test('a failing token lookup still sends the notification', async (t) => {
  const r = await receiver(t)
  hook(t, r.url, { tokensOf: async () => { throw new Error('store down') } }).stored(envelope('alice'), ['bob'])
  await waitFor(() => r.bodies.length === 1, 'a POST')
  t.same(r.bodies[0].tokens, [])
})
