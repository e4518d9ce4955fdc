import t from 'tap'
import type { Envelope } from '../../../../broker/im/store/message-log.js'
import { RedisMessageLog } from '../../../../broker/im/store/redis-message-log.js'
import { waitFor } from '../../../helpers/wait-for.js'
import type { RedisServer } from '../../../helpers/redis-server.js'
import { messageLogSuite } from './message-log.abstract.js'
import { redisClient, redisFactory, replyDroppingProxy, startRedis } from './redis-fixture.js'

let server: RedisServer
t.before(async () => { server = await startRedis(t) })

const factory = redisFactory(() => server, (client, prefix) => new RedisMessageLog(client, { prefix }))

messageLogSuite(t, factory)

const G = 'g:aaaaaaaaaaaa'
const send = (log: RedisMessageLog, cid: string, from = 'alice') => log.append(G, { from, device: 'phone', cid, kind: 'text', body: cid })

t.test('three nodes appending to one conversation get one gapless run of seqs, and resends from any node are duplicates', async (t) => {
  const prefix = 'nodes:'
  const nodes = [0, 1, 2].map(() => new RedisMessageLog(redisClient(t, server), { prefix }))
  const appends = []
  for (let i = 0; i < 300; i++) appends.push(send(nodes[i % 3], `m${i}`, `user${i % 5}`))
  const results = await Promise.all(appends)
  t.same(results.map(r => r.envelope.seq).sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i + 1), 'seqs 1..300, each once')
  for (const node of nodes) {
    const seqs = results.filter((_, i) => nodes[i % 3] === node).map(r => r.envelope.seq)
    t.same(seqs, [...seqs].sort((a, b) => a - b), 'each node\'s appends got seqs in its call order')
  }
  const resent = await Promise.all(results.map((r, i) => send(nodes[(i + 1) % 3], `m${i}`, `user${i % 5}`)))
  t.ok(resent.every((r, i) => r.duplicate && r.envelope.seq === results[i].envelope.seq), 'a resend through another node returns the stored seq')
  for (const node of nodes) {
    t.equal(await node.lastSeq(G), 300, 'every node sees the same counter')
    const page = await node.read(G, { after: 290, limit: 100 })
    t.same(page.messages.map(m => m.seq), [291, 292, 293, 294, 295, 296, 297, 298, 299, 300])
  }
  const raced = await Promise.all(nodes.map(node => send(node, 'same', 'bob')))
  t.equal(raced.filter(r => !r.duplicate).length, 1, 'one cid racing on three nodes is appended once')
  t.ok(raced.every(r => r.envelope.seq === 301))
  await nodes[0].prune(G, { maxCount: 5 })
  t.same(await Promise.all(nodes.map(async node => (await node.read(G, { after: 0 })).firstSeq)), [297, 297, 297], 'a prune on one node is seen by all')
  await Promise.all(nodes.map(node => node.close()))
})

t.test('a message stored with a caller-given ts and a body of every JSON kind reads back the same through another client', async (t) => {
  const prefix = 'json:'
  const one = new RedisMessageLog(redisClient(t, server), { prefix })
  const two = new RedisMessageLog(redisClient(t, server), { prefix })
  const body = { s: 'line\nbreak "quoted" \\ back', n: -1.5e-7, big: 2 ** 53 - 1, t: true, f: false, z: null, a: [[], {}], u: '\u2028🎉' }
  const { envelope } = await one.append(G, { from: '$system', device: '', cid: '"odd\\cid"', kind: 'x', body, ts: 1234.5 })
  t.same(await two.get(G, 1), envelope)
  t.same(envelope.body, body)
  t.equal(envelope.ts, 1234.5)
  await one.close()
  await two.close()
})

t.test('with redis-server killed mid-write, appends in flight reject, none that resolved is lost, and the log works again after a restart', async (t) => {
  const client = redisClient(t, server)
  const log = new RedisMessageLog(client, { prefix: 'crash:' })
  const resolved = new Map<string, Envelope>()
  const rejected: string[] = []
  const inFlight = new Set<Promise<void>>()
  let killed: Promise<void> | undefined
  // append until the first rejection; Redis is killed after 200 resolved
  for (let i = 0; rejected.length === 0; i++) {
    const cid = `k${i}`
    const append = send(log, cid).then((r) => {
      resolved.set(cid, r.envelope)
      if (resolved.size === 200) killed ??= server.kill()
    }, (err: unknown) => {
      t.match(err, { code: 'HAIL_ERR_STORE' })
      rejected.push(cid)
    })
    inFlight.add(append)
    void append.then(() => inFlight.delete(append))
    if (inFlight.size >= 50) await Promise.race(inFlight)
  }
  await Promise.all(inFlight)
  await killed
  t.ok(resolved.size >= 200 && rejected.length > 0, `${resolved.size} resolved, ${rejected.length} rejected`)
  await t.rejects(send(log, 'while-down'), { code: 'HAIL_ERR_STORE' }, 'an append while Redis is down rejects')

  await server.restart()
  await waitFor(() => client.status === 'ready', 'the client to reconnect by itself')
  const stored = new Map<string, Envelope>()
  for (let after = 0, more = true; more;) {
    const page = await log.read(G, { after, limit: 500 })
    t.equal(page.messages[0]?.seq, after + 1, 'gapless across pages')
    for (const m of page.messages) stored.set(m.cid, m)
    after = page.messages.at(-1)?.seq ?? after
    more = page.more
  }
  const lastSeq = await log.lastSeq(G)
  t.equal(stored.size, lastSeq, 'seqs 1..lastSeq, each cid once')
  t.ok([...resolved].every(([cid, envelope]) => JSON.stringify(stored.get(cid)) === JSON.stringify(envelope)), 'every append that resolved survived the crash as it was acknowledged')
  const resent = await Promise.all(rejected.map(cid => send(log, cid)))
  t.ok(resent.every((r, i) => r.envelope.cid === rejected[i]), 'the rejected ones can be sent again (stored once, whether or not Redis had them)')
  t.equal(await log.lastSeq(G), resolved.size + rejected.length, 'and now every message is in the log exactly once')
  t.equal((await send(log, 'after-restart')).envelope.seq, resolved.size + rejected.length + 1)
  await log.close()
})

t.test('when the reply to an append is lost and ioredis sends it again, the append is not reported as a duplicate of itself', async (t) => {
  const proxy = await replyDroppingProxy(t, server)
  const client = proxy.client()
  const log = new RedisMessageLog(client, { prefix: 'lost-reply:' })
  t.equal((await send(log, 'first')).envelope.seq, 1)
  proxy.arm()
  const again = await send(log, 'lost')
  t.equal(proxy.armed, false, 'the reply was swallowed and the connection cut')
  t.same([again.envelope.seq, again.duplicate], [2, false], 'the resent script found its own message: seq 2, not a duplicate')
  t.equal(await log.lastSeq(G), 2, 'stored once')
  t.same([(await send(log, 'lost')).duplicate, (await send(log, 'lost')).envelope.seq], [true, 2], 'a resend by the sender is a duplicate')
  await log.close()
})

t.test('close() waits for the appends in flight, then the log refuses more and the client stays open', async (t) => {
  const client = redisClient(t, server)
  const log = new RedisMessageLog(client, { prefix: 'close:' })
  let settled = 0
  const pending = Array.from({ length: 20 }, (_, i) => send(log, `c${i}`).finally(() => { settled++ }))
  await log.close()
  await Promise.resolve() // the finally callbacks of what settled before close() resolved
  t.equal(settled, 20, 'close() resolved after every append in flight settled')
  t.same(await Promise.all(pending.map(async p => (await p).envelope.seq)), Array.from({ length: 20 }, (_, i) => i + 1), 'appends issued before close() complete')
  await t.rejects(send(log, 'late'), { code: 'HAIL_ERR_STORE', message: /closed/ })
  t.equal(await client.hget('close:log:' + G, 'last'), '20', 'nothing appended after, and the client still answers')
})
