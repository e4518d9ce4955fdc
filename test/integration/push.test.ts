import { createHmac } from 'node:crypto'
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import type { HailServer } from '../../broker/index.js'
import { imServer, RawDevice } from '../helpers/im-server.js'
import { waitFor } from '../helpers/wait-for.js'

interface Received { headers: IncomingHttpHeaders, raw: string, body: any, status: number }

/** A webhook receiver on loopback: answers with `statuses` in turn (then 200), `delayMs` after the body came, records every POST. */
async function receiver (t: Test, statuses: number[] = [], delayMs = 0): Promise<{ url: string, posts: Received[] }> {
  const posts: Received[] = []
  const http = createHttpServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      const status = statuses.shift() ?? 200
      posts.push({ headers: req.headers, raw, body: JSON.parse(raw), status })
      setTimeout(() => res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no'), delayMs)
    })
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    http.closeAllConnections()
    http.close(() => resolve())
  }))
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/push`, posts }
}

async function counter (server: HailServer, name: 'pushSent' | 'pushFailed' | 'pushRetries'): Promise<number> {
  return (await server.metrics[name].get()).values.reduce((sum, v) => sum + v.value, 0)
}

const forUser = (posts: Received[], user: string): Received[] => posts.filter((p) => p.body.user === user)

t.test('an offline user gets one POST per batch: three quick messages make one notification list', async (t) => {
  const hook = await receiver(t)
  const { server, port } = await imServer(t, ['alice', 'bob'], { push: { url: hook.url, batchMs: 1500 } })
  const alice = await RawDevice.connect(t, port, 'alice', 'laptop')
  const { conv } = await alice.request('direct.open', { user: 'bob' })
  await Promise.all(['one', 'two', 'three'].map(async (text) => await alice.send(conv, { text })))

  await waitFor(() => hook.posts.length >= 1, 'the first POST', 10_000)
  const [first] = hook.posts
  t.equal(first!.headers['content-type'], 'application/json')
  t.equal(first!.body.v, 1)
  t.equal(first!.body.user, 'bob', 'the offline recipient, never the sender')
  t.same(first!.body.tokens, [])
  const notifications = first!.body.notifications as any[]
  t.same(notifications.map((n) => n.seq).sort(), [1, 2, 3], 'all three messages in one POST')
  t.same(notifications.map((n) => n.preview).sort(), ['one', 'three', 'two'])
  for (const n of notifications) {
    t.equal(n.conv, conv)
    t.equal(n.from, 'alice')
    t.equal(n.kind, 'text')
    t.type(n.ts, 'number')
  }
  t.equal(first!.headers['x-hail-signature'], undefined, 'no signature without a secret')

  // A later message is the next POST: nothing else came in between.
  await alice.send(conv, { text: 'four' })
  await waitFor(() => hook.posts.length >= 2, 'the second POST', 10_000)
  t.same(hook.posts[1]!.body.notifications.map((n: any) => n.seq), [4])
  // The receiver records a POST before it answers; the server counts it once the answer is in.
  await waitFor(async () => await counter(server, 'pushSent') === 2, 'both POSTs counted', 10_000)
  t.equal(hook.posts.length, 2)
})

t.test('a receiver that fails twice with 500 then accepts gets the batch exactly once', async (t) => {
  const hook = await receiver(t, [500, 500])
  const { server, port } = await imServer(t, ['alice', 'bob'], { push: { url: hook.url, batchMs: 50, backoffMs: 50 } })
  const alice = await RawDevice.connect(t, port, 'alice', 'laptop')
  const { conv } = await alice.request('direct.open', { user: 'bob' })
  await alice.send(conv, { text: 'wake up' })

  await waitFor(() => hook.posts.some((p) => p.status === 200), 'an accepted POST', 10_000)
  t.same(hook.posts.map((p) => p.status), [500, 500, 200])
  t.ok(hook.posts.every((p) => p.raw === hook.posts[0]!.raw), 'the same body each time')
  t.same(hook.posts[2]!.body.notifications.map((n: any) => n.preview), ['wake up'])
  t.equal(await counter(server, 'pushRetries'), 2)

  await alice.send(conv, { text: 'again' })
  await waitFor(() => hook.posts.length >= 4, 'the next POST', 10_000)
  t.same(hook.posts[3]!.body.notifications.map((n: any) => n.preview), ['again'], 'the first batch was not sent again')
  t.equal(hook.posts.filter((p) => p.status === 200).length, 2)
  await waitFor(async () => await counter(server, 'pushSent') === 2, 'both batches counted', 10_000)
  t.equal(await counter(server, 'pushFailed'), 0)
})

t.test('push latency: hail_push_delivery_seconds spans the batching wait, a retry and a slow receiver', async (t) => {
  // batchMs 200 + a 500 (300 ms to answer) + backoff 100..200 ms + a 200 (300 ms to answer): at least 0.9 s
  const hook = await receiver(t, [500], 300)
  const { server, port } = await imServer(t, ['alice', 'bob'], { push: { url: hook.url, batchMs: 200, backoffMs: 200 } })
  const alice = await RawDevice.connect(t, port, 'alice', 'laptop')
  const { conv } = await alice.request('direct.open', { user: 'bob' })
  const before = performance.now()
  await alice.send(conv, { text: 'wake up' })
  await waitFor(async () => await counter(server, 'pushSent') === 1, 'the batch accepted', 10_000)
  const elapsed = (performance.now() - before) / 1000
  const text = await server.metrics.registry.getSingleMetricAsString('hail_push_delivery_seconds')
  const series = (name: string): number => Number(text.split('\n').find((line) => line.startsWith(name + ' '))?.slice(name.length + 1) ?? NaN)
  t.equal(series('hail_push_delivery_seconds_count{outcome="sent"}'), 1, 'one batch observed')
  const seconds = series('hail_push_delivery_seconds_sum{outcome="sent"}')
  t.ok(seconds >= 0.9, `${seconds} s: batching, both POSTs and the backoff counted`)
  t.ok(seconds <= elapsed, `${seconds} s: no more than the test saw (${elapsed} s)`)
  t.equal(series('hail_push_delivery_seconds_bucket{le="0.5",outcome="sent"}'), 0)
  t.equal(series('hail_push_delivery_seconds_bucket{le="+Inf",outcome="sent"}'), 1)
})

t.test('a receiver that keeps failing is given up after maxAttempts, counted', async (t) => {
  const hook = await receiver(t, [503, 503, 503, 503])
  const { server, port } = await imServer(t, ['alice', 'bob'], { push: { url: hook.url, batchMs: 50, backoffMs: 20, maxAttempts: 3 } })
  const alice = await RawDevice.connect(t, port, 'alice', 'laptop')
  const { conv } = await alice.request('direct.open', { user: 'bob' })
  await alice.send(conv, { text: 'lost' })
  await waitFor(async () => await counter(server, 'pushFailed') === 1, 'the batch given up', 10_000)
  t.equal(hook.posts.length, 3)
  t.equal((await server.metrics.pushDeliverySeconds.get()).values.find((v) => v.metricName === 'hail_push_delivery_seconds_count' && v.labels.outcome === 'failed')?.value, 1, 'its latency observed as failed')
  t.equal(await counter(server, 'pushSent'), 0)
})

t.test('an online user gets no notification; an offline member of the same group does', async (t) => {
  const hook = await receiver(t)
  const { port } = await imServer(t, ['alice', 'bob', 'carol'], { push: { url: hook.url, batchMs: 50 } })
  const alice = await RawDevice.connect(t, port, 'alice', 'laptop')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const { conv } = await alice.request('group.create', { name: 'trio', members: ['bob', 'carol'] })
  await alice.send(conv, { text: 'hi all' })
  await waitFor(() => bob.messages(conv).some((m) => m.body?.text === 'hi all'), 'bob gets the message live', 10_000)
  await waitFor(() => forUser(hook.posts, 'carol').length === 1, 'carol\'s POST', 10_000)
  // bob's would have been flushed with carol's; one more round trip leaves it time to arrive.
  await alice.send(conv, { text: 'again' })
  await waitFor(() => forUser(hook.posts, 'carol').length === 2, 'carol\'s second POST', 10_000)
  t.same(forUser(hook.posts, 'bob'), [], 'bob is online: no push')
  t.same(forUser(hook.posts, 'alice'), [], 'the sender is never notified')
  t.same(hook.posts.flatMap((p) => p.body.notifications.map((n: any) => n.preview)), ['hi all', 'again'])
})

t.test('cipher messages and other kinds carry no preview; a long text is cut to 100 characters', async (t) => {
  const hook = await receiver(t)
  const { port } = await imServer(t, ['alice', 'bob'], { push: { url: hook.url, batchMs: 1000 } })
  const alice = await RawDevice.connect(t, port, 'alice', 'laptop')
  const { conv } = await alice.request('direct.open', { user: 'bob' })
  const long = 'x'.repeat(99) + '😀' + 'tail'
  await alice.send(conv, { alg: 'x25519-aesgcm', ciphertext: 'c2VjcmV0IHBsYW5z', keyId: 'k1' }, 'm-cipher', 'cipher')
  await alice.send(conv, { json: { temp: 21 } }, 'm-data', 'data')
  await alice.send(conv, { text: long }, 'm-text', 'text')
  await waitFor(() => hook.posts.length >= 1, 'the POST', 10_000)
  const bySeq = new Map<number, any>(hook.posts.flatMap((p) => p.body.notifications).map((n: any) => [n.seq, n]))
  t.equal(bySeq.size, 3)
  t.equal(bySeq.get(1).kind, 'cipher')
  t.notOk('preview' in bySeq.get(1), 'an end-to-end encrypted message shows nothing')
  t.notOk(hook.posts[0]!.raw.includes('c2VjcmV0IHBsYW5z'), 'not even its ciphertext')
  t.notOk('preview' in bySeq.get(2), 'nor a data message')
  t.equal(bySeq.get(3).preview, 'x'.repeat(99) + '😀', '100 characters, the emoji whole')
})

t.test('registered tokens ride along; unregistered ones do not; the signature verifies', async (t) => {
  const secret = 'webhook-secret'
  const hook = await receiver(t)
  const { server, port } = await imServer(t, ['alice', 'bob'], { push: { url: hook.url, secret, batchMs: 50 } })
  const bobPhone = await RawDevice.connect(t, port, 'bob', 'phone')
  t.same(await bobPhone.request('push.register', { token: 'fcm-token-1', platform: 'fcm' }), { token: 'fcm-token-1', platform: 'fcm' })
  await bobPhone.request('push.register', { token: 'fcm-token-1', platform: 'fcm' })
  const bobBrowser = await RawDevice.connect(t, port, 'bob', 'browser')
  await bobBrowser.request('push.register', { token: '{"endpoint":"https://push.example/abc"}', platform: 'web' })
  await t.rejects(bobBrowser.request('push.register', { token: 'x', platform: 'pager' }), { code: 'HAIL_ERR_BAD_REQUEST' })
  await bobPhone.end()
  await bobBrowser.end()
  await waitFor(() => !server.im.isOnline('bob'), 'bob offline', 10_000)

  const alice = await RawDevice.connect(t, port, 'alice', 'laptop')
  const { conv } = await alice.request('direct.open', { user: 'bob' })
  await alice.send(conv, { text: 'ping' })
  await waitFor(() => hook.posts.length >= 1, 'the POST', 10_000)
  const post = hook.posts[0]!
  t.same(post.body.tokens, [
    { device: 'browser', token: '{"endpoint":"https://push.example/abc"}', platform: 'web' },
    { device: 'phone', token: 'fcm-token-1', platform: 'fcm' }
  ], 'each token once, with its device')
  const expected = 'sha256=' + createHmac('sha256', secret).update(post.raw).digest('hex')
  t.equal(post.headers['x-hail-signature'], expected, 'HMAC-SHA256 of the exact body')

  const phoneAgain = await RawDevice.connect(t, port, 'bob', 'phone')
  t.same(await phoneAgain.request('push.unregister', { token: 'fcm-token-1' }), { removed: 1 })
  t.same(await phoneAgain.request('push.unregister', { token: 'fcm-token-1' }), { removed: 0 })
  await phoneAgain.end()
  await waitFor(() => !server.im.isOnline('bob'), 'bob offline again', 10_000)
  await alice.send(conv, { text: 'pong' })
  await waitFor(() => hook.posts.length >= 2, 'the second POST', 10_000)
  t.same(hook.posts[1]!.body.tokens.map((x: any) => x.device), ['browser'])
})

t.test('push is off by default: no hook, tokens still register', async (t) => {
  const { server, port } = await imServer(t, ['bob'])
  t.equal(server.config.push.url, null)
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  await bob.request('push.register', { token: 'apns-1', platform: 'apns' })
  t.same(await bob.request('push.unregister', {}), { removed: 1 }, 'without a token: every token of the device')
})
