import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { WebhookSender } from '../../../broker/push/webhook-sender.js'

/** A loopback receiver whose answer to the n-th POST `answer` decides. */
async function receiver (t: Test, answer: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string, count: () => number }> {
  let n = 0
  const http = createServer((req, res) => {
    req.resume()
    req.on('end', () => answer(++n, req, res))
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { http.closeAllConnections(); http.close(() => resolve()) }))
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/`, count: () => n }
}

const options = { secret: null, maxAttempts: 3, backoffMs: 10, timeoutMs: 2000 }

t.test('send() retries a 429, honouring Retry-After, and reports each retry', async (t) => {
  const r = await receiver(t, (n, _req, res) => n === 1 ? res.writeHead(429, { 'retry-after': '0' }).end() : res.writeHead(204).end())
  const retries: string[] = []
  const result = await new WebhookSender({ ...options, url: r.url }).send('{}', (_attempt, reason) => retries.push(reason))
  t.same(result, { ok: true, attempts: 2 })
  t.same(retries, ['HTTP 429'])
})

t.test('send() waits at least what Retry-After says, even when its own backoff is shorter', async (t) => {
  const at: number[] = []
  const r = await receiver(t, (n, _req, res) => {
    at.push(performance.now())
    if (n === 1) res.writeHead(503, { 'retry-after': '1' }).end()
    else res.writeHead(204).end()
  })
  const delays: number[] = []
  const result = await new WebhookSender({ ...options, url: r.url }).send('{}', (_attempt, _reason, delayMs) => delays.push(delayMs))
  t.same(result, { ok: true, attempts: 2 })
  t.ok(at[1]! - at[0]! >= 1000, `${Math.round(at[1]! - at[0]!)} ms between the POSTs (backoffMs is 10)`)
  t.ok(at[1]! - at[0]! < 1500, 'and not much more')
  t.same(delays, [1000], 'the retry is reported with its least wait')
})

t.test('send() takes a 4xx as the final answer', async (t) => {
  const r = await receiver(t, (_n, _req, res) => res.writeHead(410).end())
  const result = await new WebhookSender({ ...options, url: r.url }).send('{}')
  t.same(result, { ok: false, attempts: 1, reason: 'HTTP 410', aborted: false })
  t.equal(r.count(), 1)
})

t.test('send() gives up after maxAttempts of a receiver that never answers in time', async (t) => {
  const r = await receiver(t, () => { /* never answers */ })
  const result = await new WebhookSender({ ...options, url: r.url, maxAttempts: 2, timeoutMs: 100 }).send('{}')
  t.match(result, { ok: false, attempts: 2, reason: /timed out/, aborted: false })
})

t.test('send() retries network errors, then gives up', async (t) => {
  // The sender's waits are unref'd, as a library's timers should be: keep the loop alive with a listener.
  await receiver(t, () => {})
  // A port nobody listens on: take one, then free it.
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>((resolve) => closed.close(() => resolve()))
  const result = await new WebhookSender({ ...options, url: `http://127.0.0.1:${port}/` }).send('{}')
  t.match(result, { ok: false, attempts: 3, reason: /ECONNREFUSED/, aborted: false })
})

t.test('abort() ends a wait for a retry at once', async (t) => {
  const r = await receiver(t, (_n, _req, res) => res.writeHead(503).end())
  const sender = new WebhookSender({ ...options, url: r.url, backoffMs: 60_000 })
  const sending = sender.send('{}')
  while (r.count() === 0) await new Promise((resolve) => setTimeout(resolve, 10))
  sender.abort()
  t.match(await sending, { ok: false, reason: 'closed', aborted: true })
})

t.test('sign() is the hex HMAC-SHA256 of the body', async (t) => {
  t.equal(WebhookSender.sign('key', 'The quick brown fox jumps over the lazy dog'),
    'sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8')
})
