import mqtt from 'mqtt'
import t from 'tap'
import { callServer, refused } from '../helpers/call-server.js'
import { PASSWORD, RawDevice } from '../helpers/im-server.js'
import { RedisServer } from '../helpers/redis-server.js'

/*
 * Limits counted in Redis (broker/shared-limiter.ts): two real nodes on one
 * real redis-server, a user's devices or a guesser's attempts spread over
 * both, and the limit holds as if they had reached one node.
 */
t.test('two nodes on one Redis count invites and failed logins together', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  const node = async (mediaPortMin: number): Promise<number> => (await callServer(t, [], {
    redis: redis.url,
    calls: { invitesPerMinute: 1, inviteBurst: 2, mediaPortMin, mediaPortMax: mediaPortMin + 9, mediaListenAddress: '127.0.0.1', announcedAddresses: ['127.0.0.1'] }
  } as never)).port
  const a = await node(47600)
  const b = await node(47620)
  const { server } = await callServer(t, [], { redis: redis.url, httpPort: null, mqttPort: 0 } as never)
  for (const user of ['alice', 'bob', 'carol']) await server.users.add(user, PASSWORD)

  t.test('a user placing calls from devices on both nodes gets one burst between them', async (t) => {
    const phone = await RawDevice.connect(t, a, 'alice', 'phone')
    const laptop = await RawDevice.connect(t, b, 'alice', 'laptop')
    // Refused invites count too (bridge tests): no call, no media, only the limit.
    t.equal(await refused(phone, 'call.invite', { to: 'nobody', media: { audio: true, video: false } }), 'HAIL_ERR_NOT_FOUND', 'first, node a')
    t.equal(await refused(laptop, 'call.invite', { to: 'nobody', media: { audio: true, video: false } }), 'HAIL_ERR_NOT_FOUND', 'second, node b')
    t.equal(await refused(phone, 'call.invite', { to: 'nobody', media: { audio: true, video: false } }), 'HAIL_ERR_RATE_LIMITED', 'the third is limited on node a')
    t.equal(await refused(laptop, 'call.invite', { to: 'nobody', media: { audio: true, video: false } }), 'HAIL_ERR_RATE_LIMITED', 'and on node b')
    const bob = await RawDevice.connect(t, b, 'bob', 'phone')
    t.equal(await refused(bob, 'call.invite', { to: 'nobody', media: { audio: true, video: false } }), 'HAIL_ERR_NOT_FOUND', 'bob has his own count')
  })

  t.test('failed logins of one account on both nodes add up to its lockout on both', async (t) => {
    const attempt = async (port: number, password: string): Promise<number | undefined> => {
      try {
        const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'carol/x', username: 'carol', password, reconnectPeriod: 0, connectTimeout: 10_000 })
        await client.endAsync()
        return 0
      } catch (err) {
        return (err as { code?: number }).code
      }
    }
    // 5 failures an account may have (the default): 3 on a, 2 on b.
    const codes = []
    for (const port of [a, b, a, b, a]) codes.push(await attempt(port, 'wrong'))
    t.same(codes, [4, 4, 4, 4, 4], 'five bad passwords, spread over both nodes')
    t.equal(await attempt(b, PASSWORD), 5, 'the right password is refused on node b: the account waits')
    t.equal(await attempt(a, PASSWORD), 5, 'and on node a')
    await new Promise((resolve) => setTimeout(resolve, 1100))
    t.equal(await attempt(b, PASSWORD), 0, 'after the 1 s window carol is in')
  })
})
