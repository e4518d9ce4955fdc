import t from 'tap'
import { randomBytes } from 'node:crypto'
import { imServer, RawDevice } from '../helpers/im-server.js'
import { waitFor } from '../helpers/wait-for.js'

t.test('bad payloads get coded error replies and the connection stays up', async (t) => {
  const { port } = await imServer(t, ['alice', 'bob'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const conv = 'd:alice:bob'
  const sends: Array<[string, string | Buffer, string]> = [
    ['not JSON', '{"cid": "a1", kind', 'HAIL_ERR_BAD_REQUEST'],
    ['an unknown kind', JSON.stringify({ cid: 'a2', kind: 'hologram', body: {} }), 'HAIL_ERR_BAD_REQUEST'],
    ['a body of the wrong type', JSON.stringify({ cid: 'a3', kind: 'text', body: { text: 42 } }), 'HAIL_ERR_BAD_REQUEST'],
    ['a missing cid', JSON.stringify({ kind: 'text', body: { text: 'x' } }), 'HAIL_ERR_BAD_REQUEST'],
    ['an oversized payload', JSON.stringify({ cid: 'a5', kind: 'text', body: { text: 'x'.repeat(70_000) } }), 'HAIL_ERR_TOO_LARGE'],
    ['an edit of a message that does not exist', JSON.stringify({ cid: 'a6', kind: 'edit', body: { ref: 99, text: 'x' } }), 'HAIL_ERR_NOT_FOUND']
  ]
  for (const [what, payload, code] of sends) {
    const before = alice.of('error').length
    await alice.client.publishAsync(`im/send/${conv}`, payload, { qos: 1 })
    await waitFor(() => alice.of('error').length > before, `the error for ${what}`)
    t.equal(alice.of('error').at(-1).error.code, code, `${what} → ${code}`)
  }
  const commands: Array<[string, string, string]> = [
    ['an unknown method', JSON.stringify({ req: 'q1' }), 'HAIL_ERR_UNKNOWN_METHOD'],
    ['arguments of the wrong type', JSON.stringify({ req: 'q2', conv, after: 'zero' }), 'HAIL_ERR_BAD_REQUEST'],
    ['an unknown argument', JSON.stringify({ req: 'q3', conv, after: 0, evil: true }), 'HAIL_ERR_BAD_REQUEST']
  ]
  const methods = ['teleport', 'sync', 'sync']
  for (const [i, [what, payload, code]] of commands.entries()) {
    await alice.client.publishAsync(`im/cmd/${methods[i]}`, payload, { qos: 1 })
    await waitFor(() => alice.of('result').some((r) => r.req === `q${i + 1}`), `the reply for ${what}`)
    const reply = alice.of('result').find((r) => r.req === `q${i + 1}`)
    t.same([reply.ok, reply.error.code], [false, code], `${what} → ${code}`)
  }
  await alice.client.publishAsync('im/cmd/sync', 'garbage', { qos: 1 })
  await waitFor(() => alice.of('result').some((r) => r.req === null), 'the reply without a request id')
  t.equal(alice.of('result').find((r) => r.req === null).error.code, 'HAIL_ERR_BAD_REQUEST', 'a request with no readable req is answered with req null')
  t.ok(alice.client.connected, 'the connection stayed up through all of it')
  t.equal((await alice.send(conv, { text: 'still fine' })).seq, 1, 'and nothing bad was stored: the first good message is seq 1')
})

t.test('fuzzed payloads on every IM topic never crash the server', async (t) => {
  const { port, server } = await imServer(t, ['alice', 'bob'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const topics = ['im/send/d:alice:bob', 'im/send/g:aaaaaaaaaaaa', 'im/send/x', 'im/cmd/sync', 'im/cmd/group.create', 'im/cmd/conv.add', 'im/typing/d:alice:bob', 'im/cmd/read']
  const pieces = ['{', '}', '"cid"', '"kind"', '"text"', '"body"', ':', ',', '[', ']', 'null', '1e309', '"\\u0000"', '"req"', '"conv"', '-1', 'true', '"d:alice:bob"']
  // Deterministic, so a failure can be replayed.
  let state = 42
  const rand = (n: number): number => { state = (state * 1103515245 + 12345) % 2 ** 31; return state % n }
  for (let i = 0; i < 400; i++) {
    const payload = i % 4 === 0
      ? randomBytes(rand(64))
      : Buffer.from(Array.from({ length: rand(12) + 1 }, () => pieces[rand(pieces.length)]).join(''))
    alice.client.publish(topics[rand(topics.length)]!, payload, { qos: rand(2) as 0 | 1 })
  }
  await alice.request('conversations')
  t.ok(server.listening, 'the server is still listening')
  t.ok(alice.client.connected, 'the fuzzing client is still connected')
  t.equal((await alice.send('d:alice:bob', { text: 'after the storm' })).type, 'sent', 'and a good message still goes through')
})

t.test('a device over its request rate is told to slow down, and nothing more is stored', async (t) => {
  const { port, server } = await imServer(t, ['alice', 'bob'], { im: { rateLimitPerSecond: 1, rateLimitBurst: 3 } } as never)
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const replies = []
  for (let i = 0; i < 5; i++) replies.push(await alice.send('d:alice:bob', { text: `flood ${i}` }))
  t.same(replies.map((r) => r.type === 'sent' ? 'sent' : r.error.code), ['sent', 'sent', 'sent', 'HAIL_ERR_RATE_LIMITED', 'HAIL_ERR_RATE_LIMITED'])
  const counted = (await server.metrics.registry.getSingleMetricAsString('hail_limit_hits_total')).includes('limit="imRate"} 2')
  t.ok(counted, 'both refusals are counted in hail_limit_hits_total{limit="imRate"}')
  t.ok(alice.client.connected, 'the device stays connected')
})
