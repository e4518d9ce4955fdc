import t from 'tap'
import { InviteLimiter } from '../../bridge/invite-limiter.js'

t.test('a caller gets its burst at once, then one invite per refill interval', async (t) => {
  const limiter = new InviteLimiter(6, 2) // one every 10 s
  t.same([limiter.take('alice', 0), limiter.take('alice', 0), limiter.take('alice', 0)], [true, true, false])
  t.equal(limiter.take('alice', 9_000), false, 'not refilled yet')
  t.equal(limiter.take('alice', 10_000), true, 'one more after 10 s')
  t.equal(limiter.take('bob', 10_000), true, 'callers are counted apart')
})
