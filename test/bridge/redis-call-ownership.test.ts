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

t.test('the users in a call are busy on every node until they leave, the call ends, or its owner\'s lease lapses', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  const owner = await node(t, redis, 'owner', 3000, 300)
  // A node that only reads: it runs no lease rounds, so nothing but expiry clears a dead owner's users.
  const reader = new RedisCallOwnership({ redis: redis.url, nodeId: 'reader' })
  t.teardown(() => reader.close())
  const busyAt = async (user: string): Promise<string | undefined> => await reader.busyCallOf(user)

  t.equal(await owner.ownership.claim('c3'), true)
  t.equal(await busyAt('alice'), undefined, 'nobody is busy before a call has them')
  owner.ownership.inCall('c3', ['alice'])
  await waitFor(async () => await busyAt('alice') === 'c3', 'the caller is busy on the other node')
  t.equal(await busyAt('bob'), undefined, 'a callee who has not answered is not busy')
  owner.ownership.inCall('c3', ['alice', 'bob'])
  await waitFor(async () => await busyAt('bob') === 'c3', 'bob is busy once he is in the call')
  owner.ownership.inCall('c3', ['alice'])
  await waitFor(async () => await busyAt('bob') === undefined, 'bob is free once he left')
  t.equal(await busyAt('alice'), 'c3', 'alice is still in the call')
  await owner.ownership.release('c3')
  await waitFor(async () => await busyAt('alice') === undefined, 'alice is free once the call ended')

  t.equal(await owner.ownership.claim('c4'), true)
  owner.ownership.inCall('c4', ['carol'])
  await waitFor(async () => await busyAt('carol') === 'c4', 'carol is busy in the next call')
  // While the owner lives it refreshes carol's key with the lease: wait several lease lifetimes.
  await new Promise((resolve) => setTimeout(resolve, 7000))
  t.equal(await busyAt('carol'), 'c4', 'a live owner keeps its users busy past the lease time')
  // The owner dies without a word: no release, no more refreshes.
  await owner.ownership.close()
  await waitFor(async () => await busyAt('carol') === undefined, 'carol is free once the dead owner\'s lease lapsed', 20_000)
})

t.test('a user answering two calls on two nodes at once enters exactly one of them', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  const a = await node(t, redis, 'node-a')
  const b = await node(t, redis, 'node-b')
  t.ok(await a.ownership.claim('c5') && await b.ownership.claim('c6'), 'each node runs one call')
  const [inA, inB] = await Promise.all([a.ownership.enterCall('c5', 'dan'), b.ownership.enterCall('c6', 'dan')])
  t.equal([inA, inB].filter((other) => other === undefined).length, 1, 'one node lets dan in')
  const [won, lost] = inA === undefined ? [a, b] : [b, a]
  const wonCall = won === a ? 'c5' : 'c6'
  const lostCall = won === a ? 'c6' : 'c5'
  t.equal(inA ?? inB, wonCall, 'the other node is told which call dan is in')
  t.equal(await won.ownership.enterCall(wonCall, 'dan'), undefined, 'entering the same call again is no conflict')
  t.equal(await lost.ownership.busyCallOf('dan'), wonCall, 'and it is the call every node sees dan busy in')
  await won.ownership.release(wonCall)
  t.equal(await lost.ownership.enterCall(lostCall, 'dan'), undefined, 'once that call ended, dan may enter the other one')
  t.equal(await won.ownership.busyCallOf('dan'), lostCall)
  await lost.ownership.release(lostCall)
})
