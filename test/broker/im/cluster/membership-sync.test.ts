import t, { type Test } from 'tap'
import mqemitterRedis from 'mqemitter-redis'
import pino from 'pino'
import type { ImEmitter } from '../../../../broker/im/cluster/im-cluster.js'
import { MembershipSync } from '../../../../broker/im/cluster/membership-sync.js'
import { Membership } from '../../../../broker/im/membership.js'
import type { Role } from '../../../../protocol/index.js'
import { RedisServer } from '../../../helpers/redis-server.js'
import { waitFor } from '../../../helpers/wait-for.js'

const silent = pino({ level: 'silent' })

/** What the store holds (the mirror's source of truth at load), shared by the two nodes as Redis would. */
type Row = { conv: string, user: string, role: Role }

async function node (t: Test, url: string, nodeId: string, store: Row[]): Promise<{ membership: Membership, emitter: ImEmitter & { close: (cb: () => void) => void }, sync: MembershipSync }> {
  const emitter = mqemitterRedis({ connectionString: url }) as unknown as ImEmitter & { close: (cb: () => void) => void }
  // Its connections' errors during the outage test (the server logs them).
  ;(emitter as unknown as { state: { on: (e: string, f: () => void) => void } }).state.on('error', () => {})
  const membership = new Membership()
  const sync = new MembershipSync({ emitter, membership, nodeId, logger: silent, load: async function * () { yield * store.map((r) => ({ ...r })) } })
  await sync.start()
  t.teardown(async () => {
    await sync.close()
    await new Promise<void>((resolve) => emitter.close(resolve))
  })
  return { membership, emitter, sync }
}

t.test('membership sync over mqemitter-redis', async (t) => {
  const redis = await RedisServer.start({ appendfsyncAlways: false })
  t.teardown(() => redis.stop())

  t.test('a node starts with the store\'s memberships', async (t) => {
    const a = await node(t, redis.url, 'a', [{ conv: 'g:1', user: 'ann', role: 'owner' }, { conv: 'g:1', user: 'bob', role: 'member' }])
    t.equal(a.membership.role('g:1', 'ann'), 'owner')
    t.equal(a.membership.role('g:1', 'bob'), 'member')
  })

  t.test('a member added, re-roled and removed on one node is seen so on the other', async (t) => {
    const a = await node(t, redis.url, 'a', [])
    const b = await node(t, redis.url, 'b', [])
    a.membership.set('g:2', 'ann', 'owner')
    a.membership.set('g:2', 'cid', 'member')
    await waitFor(() => b.membership.role('g:2', 'cid') === 'member', 'cid added on b', 10_000)
    t.ok(b.membership.sharesConversation('ann', 'cid'), 'contacts follow on b')
    a.membership.set('g:2', 'cid', 'admin')
    await waitFor(() => b.membership.role('g:2', 'cid') === 'admin', 'cid re-roled on b', 10_000)
    a.membership.remove('g:2', 'cid')
    await waitFor(() => b.membership.role('g:2', 'cid') === undefined, 'cid removed on b', 10_000)
    t.notOk(b.membership.sharesConversation('ann', 'cid'), 'no longer contacts on b')
    t.equal(a.membership.role('g:2', 'cid'), undefined, 'the node\'s own echo does not undo its newer change')
  })

  t.test('another node hears a change before any message emitted after it on the same emitter', async (t) => {
    const a = await node(t, redis.url, 'a', [])
    const b = await node(t, redis.url, 'b', [])
    // What authorizeForward would see on node b when each fan-out message arrives.
    const seen: Array<{ n: number, role: Role | undefined }> = []
    const listener = (message: { topic: string, payload?: Buffer | string }, done: () => void): void => {
      const n = Number(String(message.payload))
      seen.push({ n, role: b.membership.role(`g:order${n}`, 'dan') })
      done()
    }
    await new Promise<void>((resolve) => b.emitter.on('im/inbox/dan/+', listener, resolve))
    t.teardown(() => new Promise<void>((resolve) => b.emitter.removeListener('im/inbox/dan/+', listener, resolve)))
    const rounds = 200
    for (let n = 0; n < rounds; n++) {
      a.membership.set(`g:order${n}`, 'dan', 'member')
      a.emitter.emit({ topic: `im/inbox/dan/g:order${n}`, payload: Buffer.from(String(n)) })
    }
    await waitFor(() => seen.length === rounds, 'every message on b', 20_000)
    t.same(seen.filter((s) => s.role !== 'member'), [], 'every message found its member already in b\'s mirror')
  })

  t.test('a node whose subscription was cut reloads from the store when it reconnects', async (t) => {
    const store: Row[] = [{ conv: 'g:3', user: 'ann', role: 'owner' }]
    const b = await node(t, redis.url, 'b', store)
    t.equal(b.membership.role('g:3', 'eve'), undefined)
    // While Redis is down, another node changes the store; its announcement is lost.
    await redis.kill()
    store.push({ conv: 'g:3', user: 'eve', role: 'member' })
    store.shift()
    await redis.restart()
    await waitFor(() => b.membership.role('g:3', 'eve') === 'member' && b.membership.role('g:3', 'ann') === undefined, 'b reloaded', 30_000)
    t.pass('b reloaded the store after its subscriber reconnected')
    // Let both connections settle before the teardown closes them.
    const conns = b.emitter as unknown as { pubConn: { status: string }, subConn: { status: string } }
    await waitFor(() => conns.pubConn.status === 'ready' && conns.subConn.status === 'ready', 'the emitter reconnected', 30_000)
  })

  t.test('a change a node could not emit (its publisher alone cut) reaches the others through a reload', async (t) => {
    const store: Row[] = [{ conv: 'g:5', user: 'ann', role: 'owner' }]
    const a = await node(t, redis.url, 'a', store)
    const b = await node(t, redis.url, 'b', store)
    const pub = (a.emitter as unknown as { pubConn: { disconnect: () => void, connect: () => Promise<void>, status: string } }).pubConn
    pub.disconnect()
    // The store took the change (as the conversation store would); telling b failed.
    store.push({ conv: 'g:5', user: 'fay', role: 'member' })
    a.membership.set('g:5', 'fay', 'member')
    await new Promise((resolve) => setTimeout(resolve, 300))
    t.equal(b.membership.role('g:5', 'fay'), undefined, 'b did not hear it: the publish failed')
    await pub.connect()
    await waitFor(() => b.membership.role('g:5', 'fay') === 'member', 'b reloaded after a asked', 20_000)
    t.equal(b.membership.role('g:5', 'ann'), 'owner', 'the rest of b\'s mirror is the store\'s')
  })

  t.test('a malformed change from the emitter is ignored and the sync goes on', async (t) => {
    const a = await node(t, redis.url, 'a', [])
    const b = await node(t, redis.url, 'b', [])
    a.emitter.emit({ topic: '$hail/im/membership', payload: Buffer.from('{"node":"x","change":{"op":"set","conv":"g:4","user":"bad","role":"king"}}') })
    a.emitter.emit({ topic: '$hail/im/membership', payload: Buffer.from('not json') })
    a.membership.set('g:4', 'good', 'member')
    await waitFor(() => b.membership.role('g:4', 'good') === 'member', 'the good change on b', 10_000)
    t.equal(b.membership.role('g:4', 'bad'), undefined, 'a change with an unknown role is not applied')
  })
})
