import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import t from 'tap'
import { InviteLimiter } from '../../bridge/invite-limiter.js'
import { RedisServer } from '../helpers/redis-server.js'

t.test('a caller gets its burst at once, then waits out the window the rate refills it in', async (t) => {
  const limiter = new InviteLimiter(120, 2) // a burst of 2 every second
  t.same([await limiter.take('alice'), await limiter.take('alice'), await limiter.take('alice')], [true, true, false])
  t.equal(await limiter.take('bob'), true, 'callers are counted apart')
  await sleep(1100)
  t.same([await limiter.take('alice'), await limiter.take('alice'), await limiter.take('alice')], [true, true, false], 'a new burst after the window')
})

t.test('limiters sharing one Redis count a caller together, as nodes do', async (t) => {
  const server = await RedisServer.start()
  t.teardown(() => server.stop())
  const clients = [new Redis(server.url), new Redis(server.url)]
  t.teardown(() => { for (const c of clients) c.disconnect() })
  const [a, b] = clients.map((redis) => {
    const limiter = new InviteLimiter(1, 3)
    limiter.share(redis)
    return limiter
  }) as [InviteLimiter, InviteLimiter]
  t.same([await a.take('alice'), await b.take('alice'), await a.take('alice')], [true, true, true], 'three on two nodes: the burst')
  t.same([await b.take('alice'), await a.take('alice')], [false, false], 'the fourth is refused on either node')
  t.equal(await b.take('bob'), true, 'another caller has its own count')
})
