import t from 'tap'
import { addressKey, LoginGuard, type LoginGuardOptions } from '../../../broker/users/login-guard.js'

/** A guard on a clock the test moves, so no test waits or asserts a duration of its own. */
function guard (options: LoginGuardOptions = {}): { guard: LoginGuard, advance: (ms: number) => void } {
  let time = 1_000_000
  return {
    guard: new LoginGuard({ accountFailures: 3, addressFailures: 10, baseDelayMs: 1000, maxDelayMs: 60_000, forgetAfterMs: 600_000, ...options, now: () => time }),
    advance: (ms) => { time += ms }
  }
}

t.test('an account gets its free failures, then waits a window that doubles with each failure, up to the cap', async (t) => {
  const { guard: g, advance } = guard()
  for (let i = 0; i < 2; i++) {
    g.failed('alice', '10.0.0.1')
    t.same(g.check('alice', '10.0.0.1'), { allowed: true }, `after ${i + 1} failures alice may try at once`)
  }
  const windows: number[] = []
  for (let i = 0; i < 9; i++) {
    g.failed('alice', '10.0.0.1')
    const verdict = g.check('alice', '10.0.0.1')
    if (verdict.allowed) return t.fail('a failure past the free ones must make alice wait')
    t.equal(verdict.by, 'account')
    windows.push(verdict.retryAfterMs)
    advance(verdict.retryAfterMs)
    t.same(g.check('alice', '10.0.0.1'), { allowed: true }, 'once the window has passed alice may try again')
  }
  t.same(windows, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000])
})

t.test('attempts refused during a window are not failures: retrying early does not make the wait longer', async (t) => {
  const { guard: g, advance } = guard()
  for (let i = 0; i < 3; i++) g.failed('alice', undefined)
  const first = g.check('alice', undefined)
  advance(500)
  t.match(g.check('alice', undefined), { allowed: false, retryAfterMs: 500 })
  advance(500)
  t.same(g.check('alice', undefined), { allowed: true })
  t.match(first, { allowed: false, retryAfterMs: 1000 })
})

t.test('a success clears the account, but not the address it came from', async (t) => {
  const { guard: g } = guard({ addressFailures: 3 })
  for (let i = 0; i < 3; i++) g.failed('alice', '10.0.0.1')
  g.succeeded('alice')
  t.same(g.check('alice', '10.0.0.2'), { allowed: true }, 'alice starts afresh from elsewhere')
  t.match(g.check('bob', '10.0.0.1'), { allowed: false, by: 'address' }, 'the address still waits')
  g.failed('alice', '10.0.0.2')
  g.failed('alice', '10.0.0.2')
  t.same(g.check('alice', '10.0.0.2'), { allowed: true }, 'alice has her free failures again')
})

t.test('accounts wait apart: failures of alice do not delay bob', async (t) => {
  const { guard: g } = guard()
  for (let i = 0; i < 5; i++) g.failed('alice', undefined)
  t.match(g.check('alice', undefined), { allowed: false, by: 'account' })
  t.same(g.check('bob', undefined), { allowed: true })
})

t.test('one address guessing at many accounts waits, other addresses do not, and the accounts stay free', async (t) => {
  const { guard: g } = guard()
  for (let i = 0; i < 10; i++) g.failed(`user${i}`, '192.0.2.7')
  t.match(g.check('someone', '192.0.2.7'), { allowed: false, by: 'address', retryAfterMs: 1000 })
  t.same(g.check('someone', '192.0.2.8'), { allowed: true })
  t.same(g.check('user1', '198.51.100.1'), { allowed: true })
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

  const { guard: g } = guard()
  for (let i = 0; i < 10; i++) g.failed(undefined, `2001:db8:1:2::${i.toString(16)}`)
  t.match(g.check(undefined, '2001:db8:1:2:ffff::9'), { allowed: false, by: 'address' }, 'every address of one /64 shares the wait')
  t.same(g.check(undefined, '2001:db8:1:3::1'), { allowed: true }, 'the next /64 does not')
})

t.test('memory stays bounded under a flood of distinct accounts and addresses, and the latest failures are kept', async (t) => {
  const { guard: g } = guard({ maxEntries: 100 })
  for (let i = 0; i < 5000; i++) g.failed(`user${i}`, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
  t.same(g.size, { accounts: 100, addresses: 100 })
  for (let i = 0; i < 10; i++) g.failed('user4999', '10.0.19.135')
  t.match(g.check('user4999', undefined), { allowed: false }, 'the most recent account is remembered')
  t.match(g.check(undefined, '10.0.19.135'), { allowed: false }, 'and so is the most recent address')
})

t.test('an account quiet for forgetAfterMs is forgotten, without a timer', async (t) => {
  const { guard: g, advance } = guard()
  for (let i = 0; i < 2; i++) g.failed('alice', '10.0.0.1')
  t.same(g.size, { accounts: 1, addresses: 1 })
  advance(600_000)
  g.failed('bob', '10.0.0.2') // a later failure sweeps what expired
  t.same(g.size, { accounts: 1, addresses: 1 })
  g.failed('alice', undefined)
  t.same(g.check('alice', undefined), { allowed: true }, 'alice counts from zero again: one failure is free')
})

t.test('a window longer than forgetAfterMs is still served in full', async (t) => {
  const { guard: g, advance } = guard({ forgetAfterMs: 1000, maxDelayMs: 5000 })
  for (let i = 0; i < 6; i++) g.failed('alice', undefined)
  advance(4000)
  t.match(g.check('alice', undefined), { allowed: false, retryAfterMs: 1000 })
})

t.test('unlock() lifts an account\'s lockout and forgets its failures; the address keeps its own', async (t) => {
  const { guard: g } = guard()
  for (let i = 0; i < 12; i++) g.failed('alice', '10.0.0.1')
  t.match(g.check('alice', '10.0.0.2'), { allowed: false, by: 'account' }, 'locked out from any address')
  t.same(g.unlock('alice'), { wasLocked: true, failures: 12 })
  t.same(g.check('alice', '10.0.0.2'), { allowed: true }, 'unlocked: alice may try at once from another address')
  t.match(g.check('alice', '10.0.0.1'), { allowed: false, by: 'address' }, 'the guessing address still waits')
  g.failed('alice', '10.0.0.2')
  t.same(g.check('alice', '10.0.0.2'), { allowed: true }, 'a failure after the unlock is a first failure again')
  t.same(g.unlock('bob'), { wasLocked: false, failures: 0 }, 'an account without failures was not locked')
})

t.test('onLockout is told once each time failures make an account or address wait that did not', async (t) => {
  const lockouts: string[] = []
  const { guard: g, advance } = guard({ onLockout: (by) => lockouts.push(by) })
  for (let i = 0; i < 200; i++) g.failed('alice', '10.0.0.1') // a burst: all checked before any failed
  t.same(lockouts, ['account', 'address'], 'a burst of 200 failures is one lockout of the account and one of the address')
  advance(60_000)
  g.failed('alice', '10.0.0.1')
  t.same(lockouts, ['account', 'address', 'account', 'address'], 'a failure after the window passed starts another')
})
