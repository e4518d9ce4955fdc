import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createServer } from '../../index.js'
import { Daemon } from '../helpers/daemon.js'
import { PASSWORD, RawDevice } from '../helpers/im-server.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

/** One topic per SUBSCRIBE: see redis-cluster.test.ts. */
async function device (t: Test, port: number, user: string, name: string): Promise<RawDevice> {
  const d = await RawDevice.connect(t, port, user, name, { subscribe: false })
  await d.client.subscribeAsync({ [`im/inbox/${user}/#`]: { qos: 1 } })
  await d.client.subscribeAsync({ [`im/reply/${user}/${name}`]: { qos: 1 } })
  return d
}

// The defaults a user runs with: liveness TTL 15 s (heartbeat 5 s), presence debounce 3 s.
const OFFLINE_WITHIN = 15_000 + 5_000 + 3_000 + 10_000

t.test('kill -9 of a node: its users go offline after the liveness TTL, unless they have a device on another node', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  const dirB = await mkdtemp(join(tmpdir(), 'hail-cluster-b-'))
  const b = createServer({ dataDir: join(dirB, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: 0, redis: redis.url } as never)
  const portB = (await b.listen()).mqtt!.port
  t.teardown(async () => {
    await b.close()
    await rm(dirB, { recursive: true, force: true })
  })
  for (const user of ['ann', 'dan', 'eve']) await b.users.add(user, PASSWORD)

  const dirA = await mkdtemp(join(tmpdir(), 'hail-cluster-a-'))
  t.teardown(() => rm(dirA, { recursive: true, force: true }))
  const { daemon: a, addresses } = await Daemon.start(['--data', dirA, '--mqtt-port', '0', '--http-port', '0', '--host', '127.0.0.1', '--redis', redis.url], 60_000)
  t.teardown(() => a.kill9())
  const portA = addresses.mqtt!.port

  const ann = await device(t, portB, 'ann', 'phone')
  await ann.request('direct.open', { user: 'dan' })
  await ann.request('direct.open', { user: 'eve' })
  await ann.client.subscribeAsync('im/presence/dan', { qos: 1 })
  await ann.client.subscribeAsync('im/presence/eve', { qos: 1 })
  const statuses = (user: string): string[] => ann.of('presence').filter((p) => p.user === user).map((p) => p.status)

  await device(t, portA, 'dan', 'phone')
  await device(t, portA, 'eve', 'phone')
  await device(t, portB, 'eve', 'laptop')
  await waitFor(() => statuses('dan').at(-1) === 'online' && statuses('eve').at(-1) === 'online', 'dan and eve online', 20_000)
  const eveOnlineCount = statuses('eve').filter((s) => s === 'online').length

  const killed = Date.now()
  await a.kill9()
  await waitFor(() => statuses('dan').at(-1) === 'offline', 'dan offline after node a died', OFFLINE_WITHIN)
  const offline = ann.of('presence').filter((p) => p.user === 'dan').at(-1)
  t.ok(offline.lastSeen <= killed, 'last seen is no later than the crash')
  t.comment(`dan announced offline ${Date.now() - killed} ms after kill -9 (liveness TTL 15 s)`)
  t.equal(statuses('eve').at(-1), 'online', 'eve keeps her laptop on node b: still online')
  t.equal(statuses('eve').filter((s) => s === 'online').length, eveOnlineCount, 'and was not announced again')

  // dan's phone reconnects to the surviving node.
  await device(t, portB, 'dan', 'phone')
  await waitFor(() => statuses('dan').at(-1) === 'online', 'dan online again on node b', 10_000)
  t.pass('dan is online again through node b')
})
