import t from 'tap'
import { isToken, MAX_TOKEN_TTL_SECONDS, TokenService } from '../../../broker/users/tokens.js'
import { tempUserStore } from './store-fixture.js'

/** A clock the test moves; tokens count whole seconds. */
function clock (start = 1_700_000_000_000): { now: () => number, advance: (ms: number) => void } {
  let time = start
  return { now: () => time, advance: (ms) => { time += ms } }
}

t.test('a token issued for a user verifies as that user until it expires', async (t) => {
  const users = await tempUserStore(t)
  await users.add('alice', 'pw')
  const time = clock()
  const tokens = new TokenService(users, { now: time.now })
  const { token, expires } = await tokens.issue('alice', 900)
  t.equal(expires, time.now() + 900_000)
  const check = await tokens.verify(token)
  t.match(check, { ok: true, claims: { sub: 'alice', iat: time.now() / 1000, exp: time.now() / 1000 + 900 } })
  t.same(await tokens.verify(Buffer.from(token)), check, 'as bytes, as CONNECT carries it')
  time.advance(899_000)
  t.equal((await tokens.verify(token)).ok, true, 'one second before exp it still works')
  time.advance(1000)
  t.same(await tokens.verify(token), { ok: false, reason: 'expired' }, 'at exp it no longer does')
})

t.test('a token starts with hail1. and isToken() tells it from a password', async (t) => {
  const users = await tempUserStore(t)
  await users.add('alice', 'pw')
  const { token } = await new TokenService(users).issue('alice', 60)
  t.match(token, /^hail1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/)
  t.equal(isToken(token), true)
  t.equal(isToken(Buffer.from(token)), true)
  t.equal(isToken('pw'), false)
  t.equal(isToken('hail1'), false)
  t.equal(isToken(Buffer.alloc(0)), false)
})

t.test('two tokens issued in the same second differ (each has its own jti)', async (t) => {
  const users = await tempUserStore(t)
  await users.add('alice', 'pw')
  const tokens = new TokenService(users, { now: clock().now })
  const [a, b] = await Promise.all([tokens.issue('alice', 60), tokens.issue('alice', 60)])
  t.not(a.token, b.token)
})

t.test('a token with its payload or signature changed fails with bad-signature', async (t) => {
  const users = await tempUserStore(t)
  await users.add('alice', 'pw')
  await users.add('bob', 'pw')
  const tokens = new TokenService(users)
  const { token } = await tokens.issue('alice', 60)
  const [prefix, payload, signature] = token.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
  const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'bob' })).toString('base64url')
  t.same(await tokens.verify(`${prefix}.${forged}.${signature}`), { ok: false, reason: 'bad-signature' }, 'another user named in the payload')
  const later = Buffer.from(JSON.stringify({ ...claims, exp: (claims.exp as number) + 86_400 })).toString('base64url')
  t.same(await tokens.verify(`${prefix}.${later}.${signature}`), { ok: false, reason: 'bad-signature' }, 'a later expiry')
  const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1)
  t.same(await tokens.verify(`${prefix}.${payload}.${flipped}`), { ok: false, reason: 'bad-signature' }, 'a changed signature')
})

t.test('a token signed with another store\'s secret fails with bad-signature', async (t) => {
  const mine = await tempUserStore(t)
  const theirs = await tempUserStore(t)
  await mine.add('alice', 'pw')
  await theirs.add('alice', 'pw')
  const { token } = await new TokenService(theirs).issue('alice', 60)
  t.same(await new TokenService(mine).verify(token), { ok: false, reason: 'bad-signature' })
})

t.test('a token of a deleted user fails, and keeps failing when the name is added again', async (t) => {
  const users = await tempUserStore(t)
  await users.add('alice', 'pw')
  const tokens = new TokenService(users)
  const { token } = await tokens.issue('alice', 60)
  await users.delete('alice')
  t.same(await tokens.verify(token), { ok: false, reason: 'no-user' })
  await users.add('alice', 'pw')
  t.same(await tokens.verify(token), { ok: false, reason: 'revoked' }, 'a new alice is not the old one')
})

t.test('changing the password revokes the tokens issued before, not those issued after', async (t) => {
  const users = await tempUserStore(t)
  await users.add('alice', 'pw')
  const tokens = new TokenService(users)
  const before = await tokens.issue('alice', 60)
  await users.setPassword('alice', 'new')
  const after = await tokens.issue('alice', 60)
  t.same(await tokens.verify(before.token), { ok: false, reason: 'revoked' })
  t.equal((await tokens.verify(after.token)).ok, true)
})

t.test('strings that are not tokens fail with malformed', async (t) => {
  const users = await tempUserStore(t)
  await users.add('alice', 'pw')
  const tokens = new TokenService(users)
  const { token } = await tokens.issue('alice', 60)
  for (const text of ['', 'pw', 'hail1.', 'hail1..', 'hail1.abc', 'hail1.a.b', 'hail2' + token.slice(5), `${token}.x`, `${token} `, 'hail1.' + 'a'.repeat(2000) + '.' + 'b'.repeat(43)]) {
    t.same(await tokens.verify(text), { ok: false, reason: 'malformed' }, JSON.stringify(text.slice(0, 30)))
  }
})

t.test('issue() takes 1 s to 30 days and an existing user, and rejects anything else', async (t) => {
  const users = await tempUserStore(t)
  await users.add('alice', 'pw')
  const tokens = new TokenService(users)
  for (const ttl of [0, -1, 1.5, NaN, Infinity, MAX_TOKEN_TTL_SECONDS + 1]) {
    await t.rejects(tokens.issue('alice', ttl), { code: 'HAIL_ERR_BAD_TTL' }, `ttl ${ttl}`)
  }
  t.ok(await tokens.issue('alice', 1))
  t.ok(await tokens.issue('alice', MAX_TOKEN_TTL_SECONDS))
  await t.rejects(tokens.issue('bob', 60), { code: 'HAIL_ERR_NO_USER' })
  await t.rejects(tokens.issue('Not/A/Name', 60), { code: 'HAIL_ERR_NO_USER' })
})
