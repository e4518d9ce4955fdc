import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { addressKey, LoginGuard, type LoginGuardOptions } from '../../../broker/users/login-guard.js'
import { RedisServer } from '../../helpers/redis-server.js'

/*
 * The guard counts with rate-limiter-flexible, on the real clock (it has no
 * other): windows here are a second or two, and waits are asserted as
 * ranges. The last tests run two guards on one real redis-server, as two
 * nodes do.
 */
function guard (options: LoginGuardOptions = {}): LoginGuard {
  return new LoginGuard({ accountFailures: 3, addressFailures: 10, baseDelayMs: 1000, maxDelayMs: 2000, forgetAfterMs: 600_000, ...options })
}

/** The wait of a refused verdict; fails the test on an allowed one. */
function waitOf (t: Test, verdict: Awaited<ReturnType<LoginGuard['check']>>, by: 'account' | 'address'): number {
  if (verdict.allowed) {
    t.fail(`expected a wait by ${by}`)
    return 0
  }
  t.equal(verdict.by, by)
  return verdict.retryAfterMs
}

t.test('an account gets its free failures, then waits a window that doubles with each failure, up to the cap', async (t) => {
  const g = guard()
  for (let i = 0; i < 2; i++) {
    await g.failed('alice', '10.0.0.1')
    t.same(await g.check('alice', '10.0.0.1'), { allowed: true }, `after ${i + 1} failures alice may try at once`)
  }
  const windows: number[] = []
  for (let i = 0; i < 3; i++) {
    await g.failed('alice', '10.0.0.1')
    const wait = waitOf(t, await g.check('alice', '10.0.0.1'), 'account')
    windows.push(wait)
    await sleep(wait + 20)
    t.same(await g.check('alice', '10.0.0.1'), { allowed: true }, 'once the window has passed alice may try again')
  }
  t.ok(windows[0]! > 800 && windows[0]! <= 1000, `first window 1 s (${windows[0]})`)
  t.ok(windows[1]! > 1800 && windows[1]! <= 2000, `then 2 s (${windows[1]})`)
  t.ok(windows[2]! > 1800 && windows[2]! <= 2000, `and no more than the cap (${windows[2]})`)
})

t.test('attempts refused during a window are not failures: retrying early does not make the wait longer', async (t) => {
  const g = guard()
  for (let i = 0; i < 3; i++) await g.failed('alice', undefined)
  const first = waitOf(t, await g.check('alice', undefined), 'account')
  await sleep(500)
  const later = waitOf(t, await g.check('alice', undefined), 'account')
  t.ok(later < first - 300, `the wait ran down (${first} then ${later})`)
  await sleep(later + 20)
  t.same(await g.check('alice', undefined), { allowed: true })
})

t.test('a success clears the account, but not the address it came from', async (t) => {
  const g = guard({ addressFailures: 3 })
  for (let i = 0; i < 3; i++) await g.failed('alice', '10.0.0.1')
  await g.succeeded('alice')
  t.same(await g.check('alice', '10.0.0.2'), { allowed: true }, 'alice starts afresh from elsewhere')
  t.match(await g.check('bob', '10.0.0.1'), { allowed: false, by: 'address' }, 'the address still waits')
  await g.failed('alice', '10.0.0.2')
  await g.failed('alice', '10.0.0.2')
  t.same(await g.check('alice', '10.0.0.2'), { allowed: true }, 'alice has her free failures again')
})

t.test('accounts wait apart: failures of alice do not delay bob', async (t) => {
  const g = guard()
  for (let i = 0; i < 5; i++) await g.failed('alice', undefined)
  t.match(await g.check('alice', undefined), { allowed: false, by: 'account' })
  t.same(await g.check('bob', undefined), { allowed: true })
})

t.test('one address guessing at many accounts waits, other addresses do not, and the accounts stay free', async (t) => {
  const g = guard()
  for (let i = 0; i < 10; i++) await g.failed(`user${i}`, '192.0.2.7')
  t.match(await g.check('someone', '192.0.2.7'), { allowed: false, by: 'address' })
  t.same(await g.check('someone', '192.0.2.8'), { allowed: true })
  t.same(await g.check('user1', '198.51.100.1'), { allowed: true })
})

t.test('an IPv4-mapped address counts as its IPv4 address, and IPv6 addresses by their /64', async (t) => {
  t.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7')
  t.equal(addressKey('192.0.2.7'), '192.0.2.7')
  t.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
  t.equal(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64')
  t.equal(addressKey('2001:0db8:0001:0002::1%eth0'), '2001:db8:1:2::/64')
  t.equal(addressKey('::1'), '0:0:0:0::/64')
  t.equal(addressKey('2001:db8::'), '2001:db8:0:0::/64')
  t.equal(addressKey('64:ff9b::192.0.2.7'), '64:ff9b:0:0::/64')

  const g = guard()
  for (let i = 0; i < 10; i++) await g.failed(undefined, `2001:db8:1:2::${i.toString(16)}`)
  t.match(await g.check(undefined, '2001:db8:1:2:ffff::9'), { allowed: false, by: 'address' }, 'every address of one /64 shares the wait')
  t.same(await g.check(undefined, '2001:db8:1:3::1'), { allowed: true }, 'the next /64 does not')
})

t.test('alone, memory stays bounded under a flood of distinct accounts and addresses, and the latest failures are kept', async (t) => {
  const g = guard({ maxEntries: 100 })
  for (let i = 0; i < 5000; i++) await g.failed(`user${i}`, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
  t.same(g.size, { accounts: 100, addresses: 100 })
  t.same(await g.check('user0', '10.0.0.0'), { allowed: true }, 'the oldest were dropped')
  for (let i = 0; i < 10; i++) await g.failed('user4999', '10.0.19.135')
  t.match(await g.check('user4999', undefined), { allowed: false }, 'the most recent account is remembered')
  t.match(await g.check(undefined, '10.0.19.135'), { allowed: false }, 'and so is the most recent address')
})

t.test('an account quiet for forgetAfterMs is forgotten', async (t) => {
  const g = guard({ forgetAfterMs: 1000 })
  for (let i = 0; i < 2; i++) await g.failed('alice', '10.0.0.1')
  await sleep(1100)
  await g.failed('alice', undefined)
  t.same(await g.check('alice', undefined), { allowed: true }, 'alice counts from zero again: one failure is free')
})

t.test('a window longer than forgetAfterMs is still served in full, and the failures outlive it', async (t) => {
  const g = guard({ forgetAfterMs: 1000, maxDelayMs: 3000 })
  for (let i = 0; i < 6; i++) await g.failed('alice', undefined)
  await sleep(1500)
  t.match(await g.check('alice', undefined), { allowed: false, by: 'account' }, 'still waiting after forgetAfterMs')
  t.same(await g.unlock('alice'), { wasLocked: true, failures: 6 }, 'and its failures still counted')
})

t.test('unlock() lifts an account\'s lockout and forgets its failures; the address keeps its own', async (t) => {
  const g = guard()
  for (let i = 0; i < 12; i++) await g.failed('alice', '10.0.0.1')
  t.match(await g.check('alice', '10.0.0.2'), { allowed: false, by: 'account' }, 'locked out from any address')
  t.same(await g.unlock('alice'), { wasLocked: true, failures: 12 })
  t.same(await g.check('alice', '10.0.0.2'), { allowed: true }, 'unlocked: alice may try at once from another address')
  t.match(await g.check('alice', '10.0.0.1'), { allowed: false, by: 'address' }, 'the guessing address still waits')
  await g.failed('alice', '10.0.0.2')
  t.same(await g.check('alice', '10.0.0.2'), { allowed: true }, 'a failure after the unlock is a first failure again')
  t.same(await g.unlock('bob'), { wasLocked: false, failures: 0 }, 'an account without failures was not locked')
})

t.test('onLockout is told once each time failures make an account or address wait that did not', async (t) => {
  const lockouts: string[] = []
  const g = guard({ onLockout: (by) => lockouts.push(by) })
  // A burst: all checked before any failed.
  await Promise.all(Array.from({ length: 200 }, async () => await g.failed('alice', '10.0.0.1')))
  t.same(lockouts.sort(), ['account', 'address'], 'a burst of 200 failures is one lockout of the account and one of the address')
  const wait = waitOf(t, await g.check('alice', '10.0.0.1'), 'account')
  t.ok(wait > 1800, `the burst's failures lengthened the window to the cap (${wait})`)
  await sleep(wait + 20)
  await g.failed('alice', '10.0.0.1')
  t.same(lockouts.sort(), ['account', 'account', 'address', 'address'], 'a failure after the window passed starts another')
})

t.test('guards sharing one Redis count together, as nodes do', async (t) => {
  const server = await RedisServer.start()
  t.teardown(() => server.stop())
  const clients = [new Redis(server.url), new Redis(server.url)]
  t.teardown(() => { for (const c of clients) c.disconnect() })
  const lockouts: string[] = []
  const [a, b] = clients.map((redis) => {
    const g = guard({ onLockout: (by) => lockouts.push(by) })
    g.share(redis)
    return g
  }) as [LoginGuard, LoginGuard]

  await a.failed('alice', '10.0.0.1')
  await b.failed('alice', '10.0.0.2')
  t.same(await a.check('alice', undefined), { allowed: true }, 'two failures, one on each node: still free')
  await a.failed('alice', '10.0.0.3')
  t.match(await b.check('alice', '10.0.0.9'), { allowed: false, by: 'account' }, 'the third, on the other node, makes alice wait on both')
  t.match(await a.check('alice', '10.0.0.9'), { allowed: false, by: 'account' })
  t.same(lockouts, ['account'], 'one lockout')
  t.equal(b.size, undefined, 'in Redis the guard keeps no table of its own')
  t.ok((await clients[0]!.keys('hail:limit:login-*')).length > 0, 'the counts are in Redis under hail:limit:')

  await Promise.all(Array.from({ length: 10 }, async (_, i) => await (i % 2 === 0 ? a : b).failed(`user${i}`, '192.0.2.7')))
  t.match(await a.check('someone', '192.0.2.7'), { allowed: false, by: 'address' }, 'an address guessing on both nodes waits on both')

  // Failures of one address on both nodes at once: each counted (the count and its expiry are one
  // Redis script; a separate write of the count could put back one the other node had passed).
  await Promise.all(Array.from({ length: 40 }, async (_, i) => await (i % 2 === 0 ? a : b).failed(`burst${i}`, '198.51.100.4')))
  const burstKey = (await clients[0]!.keys('hail:limit:login-address-failures*198.51.100.4'))[0]
  t.equal(burstKey === undefined ? null : await clients[0]!.get(burstKey), '40', 'forty failures on two nodes at once count forty')
  t.ok(burstKey !== undefined && await clients[0]!.ttl(burstKey) > 500, 'and the count is kept a quiet forgetAfterMs')

  t.same(await b.unlock('alice'), { wasLocked: true, failures: 3 }, 'an unlock on one node')
  t.same(await a.check('alice', '10.0.0.9'), { allowed: true }, 'lifts the wait on the other')
  await a.succeeded('alice')
})
