import MQEmitterRedis from 'mqemitter-redis'
import t, { type Test } from 'tap'
import { ImError } from '../../broker/index.js'
import type { CallEmitter, CallFacts, OwnerHandlers } from '../../bridge/call-ownership.js'
import { RedisCallOwnership } from '../../bridge/redis-call-ownership.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

interface Node { ownership: RedisCallOwnership, lost: CallFacts[], acts: string[], emitter: CallEmitter & { close: (cb: () => void) => void } }

/** A node's call ownership on the shared Redis with its own mqemitter-redis (as aedes' emitter is in Redis mode). */
async function node (t: Test, redis: RedisServer, name: string, leaseTtlMs = 15_000, heartbeatMs = 5_000): Promise<Node> {
  const emitter = MQEmitterRedis({ connectionString: redis.url }) as unknown as Node['emitter']
  const ownership = new RedisCallOwnership({ redis: redis.url, nodeId: name, leaseTtlMs, heartbeatMs, requestTimeoutMs: 5_000 })
  const n: Node = { ownership, lost: [], acts: [], emitter }
  const handlers: OwnerHandlers = {
    act: async (caller, callId, action) => {
      n.acts.push(`${caller.user}/${caller.device} ${action} ${callId}`)
      if (caller.user === 'mallory') throw new ImError('HAIL_ERR_CALL_NOT_FOUND', `no call ${callId}`)
      return { callId, by: name }
    },
    signal: async () => {},
    drop: () => {},
    lost: async (facts) => { n.lost.push(facts) }
  }
  await ownership.start(emitter, handlers)
  t.teardown(async () => {
    await ownership.close()
    await new Promise<void>((resolve) => emitter.close(resolve))
  })
  return n
}

const facts = (id: string): CallFacts => ({
  id,
  conv: 'd:alice:bob',
  mode: 'sfu',
  media: { audio: true, video: false },
  caller: { user: 'alice', device: 'phone' },
  users: ['alice', 'bob'],
  startedAt: 1000,
  answeredAt: 2000,
  spans: [{ device: 'alice/phone', joinedAt: 1000, leftAt: null }]
})

t.test('a call is held by one node at a time; others learn its parties and reach its owner', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  const a = await node(t, redis, 'node-a')
  const b = await node(t, redis, 'node-b')
  t.equal(await a.ownership.claim('c1'), true, 'node a takes the call')
  t.equal(await b.ownership.claim('c1'), false, 'node b cannot take it too')
  t.ok(a.ownership.owns('c1') && !b.ownership.owns('c1'))

  a.ownership.update(facts('c1'))
  await waitFor(() => b.ownership.isRemoteParty('c1', 'bob'), 'node b hears the parties')
  t.notOk(b.ownership.isRemoteParty('c1', 'mallory'), 'a stranger is no party')
  t.same(b.ownership.remoteCallsOf('bob'), ['c1'])

  t.same(await b.ownership.forwardAct({ user: 'bob', device: 'tab' }, 'c1', 'accept'), { result: { callId: 'c1', by: 'node-a' } }, 'node a answers a command node b forwards')
  await t.rejects(b.ownership.forwardAct({ user: 'mallory', device: 'x' }, 'c1', 'hangup'), { code: 'HAIL_ERR_CALL_NOT_FOUND' }, 'the owner\'s refusal comes back with its code')
  t.equal(await b.ownership.forwardAct({ user: 'bob', device: 'tab' }, 'nope', 'accept'), undefined, 'a call no node holds is not forwarded')

  await a.ownership.release('c1')
  await waitFor(() => !b.ownership.isRemoteParty('c1', 'bob'), 'node b hears the call ended')
  t.equal(await b.ownership.claim('c1'), true, 'once released, the call id is free')
  await b.ownership.release('c1')
})

t.test('when the owner stops refreshing its lease, exactly one other node ends the call', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  const owner = await node(t, redis, 'owner', 3000, 300)
  const b = await node(t, redis, 'node-b', 3000, 300)
  const c = await node(t, redis, 'node-c', 3000, 300)
  t.equal(await owner.ownership.claim('c2'), true)
  owner.ownership.update(facts('c2'))
  await waitFor(() => b.ownership.isRemoteParty('c2', 'alice') && c.ownership.isRemoteParty('c2', 'alice'), 'the others hear the call')
  // While the owner lives, its refreshed lease keeps the call: wait several lease lifetimes.
  await new Promise((resolve) => setTimeout(resolve, 7000))
  t.same([...b.lost, ...c.lost], [], 'a live owner\'s call is not ended by others')
  // The owner dies without a word: no release, no more refreshes.
  await owner.ownership.close()
  await waitFor(() => b.lost.length + c.lost.length > 0, 'another node ends the lost call')
  await new Promise((resolve) => setTimeout(resolve, 2000))
  const lost = [...b.lost, ...c.lost]
  t.equal(lost.length, 1, 'one node, not two, ends it')
  t.match(lost[0], { id: 'c2', conv: 'd:alice:bob', users: ['alice', 'bob'] }, 'with the facts the owner last stored')
  t.notOk(b.ownership.isRemoteParty('c2', 'alice') || c.ownership.isRemoteParty('c2', 'alice'), 'nobody takes alice for a party any more')
})
