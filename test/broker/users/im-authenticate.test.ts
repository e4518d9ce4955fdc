import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import mqtt from 'mqtt'
import { HailServer } from '../../../broker/index.js'
import type { Credentials } from '../../../broker/mqtt/authenticate.js'
import { imAuthenticate } from '../../../broker/users/im-authenticate.js'
import { LoginGuard } from '../../../broker/users/login-guard.js'
import { TokenService } from '../../../broker/users/tokens.js'
import type { UserStore } from '../../../broker/users/user-store.js'
import { tempUserStore } from './store-fixture.js'

/** A real server keeping its users in a temp dir, with alice and bob. */
async function server (t: Test, options: { allowAnonymous?: boolean } = {}): Promise<{ server: HailServer, url: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-auth-'))
  const server = new HailServer({ dataDir: dir, host: '127.0.0.1', mqttPort: 0, httpPort: null, ...options })
  const { mqtt: bound } = await server.listen()
  t.teardown(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })
  await server.users.add('alice', 'alice-pw')
  await server.users.add('bob', 'bob-pw')
  return { server, url: `mqtt://127.0.0.1:${bound!.port}` }
}

async function connect (t: Test, url: string, options: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...options })
  t.teardown(() => client.endAsync())
  return client
}

/** The CONNACK return code of a refused connection. */
async function refusal (url: string, options: mqtt.IClientOptions): Promise<number | undefined> {
  try {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...options })
    await client.endAsync()
    return undefined
  } catch (err) {
    return (err as { code?: number }).code
  }
}

t.test('alice connects with her password from alice/{device}, and a client id of anyone else gets CONNACK 5', async (t) => {
  const { url } = await server(t)
  const phone = await connect(t, url, { clientId: 'alice/phone', username: 'alice', password: 'alice-pw' })
  t.ok(phone.connected, 'alice/phone is in')
  t.equal(await refusal(url, { clientId: 'bob/x', username: 'alice', password: 'alice-pw' }), 5, 'alice as bob/x')
  t.equal(await refusal(url, { clientId: 'alice', username: 'alice', password: 'alice-pw' }), 5, 'no device')
  t.equal(await refusal(url, { clientId: 'alice/', username: 'alice', password: 'alice-pw' }), 5, 'an empty device')
  t.equal(await refusal(url, { clientId: 'alice/a/b', username: 'alice', password: 'alice-pw' }), 5, 'a device with a slash')
  t.equal(await refusal(url, { clientId: 'alice/ph one', username: 'alice', password: 'alice-pw' }), 5, 'a device with a space')
  t.equal(await refusal(url, { clientId: 'alicex/phone', username: 'alice', password: 'alice-pw' }), 5, 'a user name that only starts with alice')
  t.ok(phone.connected, 'none of that disturbed alice/phone')
})

t.test('bob cannot take over alice/phone: he is refused and her session stays connected', async (t) => {
  const { url } = await server(t)
  const phone = await connect(t, url, { clientId: 'alice/phone', username: 'alice', password: 'alice-pw' })
  let closed = false
  phone.on('close', () => { closed = true })
  t.equal(await refusal(url, { clientId: 'alice/phone', username: 'bob', password: 'bob-pw' }), 5)
  await phone.publishAsync('probe', 'x', { qos: 1 }) // a round trip: alice's connection still answers
  t.equal(closed, false)
})

t.test('a wrong password, an unknown user and no password get CONNACK 4', async (t) => {
  const { url } = await server(t)
  t.equal(await refusal(url, { clientId: 'alice/phone', username: 'alice', password: 'wrong' }), 4)
  t.equal(await refusal(url, { clientId: 'carol/phone', username: 'carol', password: 'alice-pw' }), 4)
  t.equal(await refusal(url, { clientId: 'alice/phone', username: 'alice' }), 4)
})

t.test('a token works as the password, and a token of another user does not', async (t) => {
  const { server: s, url } = await server(t)
  const { token: alices } = await s.tokens.issue('alice', 60)
  const client = await connect(t, url, { clientId: 'alice/laptop', username: 'alice', password: alices })
  t.ok(client.connected, 'alice is in with her token')
  t.equal(await refusal(url, { clientId: 'bob/laptop', username: 'bob', password: alices }), 4, "bob with alice's token")
  await s.users.setPassword('alice', 'new-pw')
  t.equal(await refusal(url, { clientId: 'alice/tablet', username: 'alice', password: alices }), 4, 'a token issued before a password change')
})

t.test('without allowAnonymous a client without a user name gets CONNACK 5', async (t) => {
  const { url } = await server(t)
  t.equal(await refusal(url, { clientId: 'sensor-1' }), 5)
})

t.test('with allowAnonymous a client without a user name connects, but not with a client id holding a slash', async (t) => {
  const { server: s, url } = await server(t, { allowAnonymous: true })
  const sensor = await connect(t, url, { clientId: 'sensor-1' })
  t.ok(sensor.connected)
  t.equal(await refusal(url, { clientId: 'alice/phone' }), 5, "an anonymous client cannot pose as alice's device")
  t.equal(await refusal(url, { clientId: 'sensor-2', username: 'alice', password: 'wrong' }), 5, 'a known user name still has to be right (and its client id its own)')
  t.equal(await refusal(url, { clientId: 'alice/phone', username: 'alice', password: 'wrong' }), 4)
  t.ok(await connect(t, url, { clientId: 'alice/phone', username: 'alice', password: 'alice-pw' }), 'users log in as ever')
  t.ok(s.listening)
})

t.test('with allowAnonymous an unknown user name connects as an anonymous client; known users still need their password', async (t) => {
  const { server: s, url } = await server(t, { allowAnonymous: true })
  // Many clients always send a user name (mosquitto_pub -u, device firmware): on a test broker that is not an account.
  const device = await connect(t, url, { clientId: 'thermo-1', username: 'thermo', password: 'whatever' })
  t.ok(device.connected, 'an unknown name with a password')
  t.ok(await connect(t, url, { clientId: 'thermo-2', username: 'thermo' }), 'an unknown name without a password')
  t.same(Object.keys(s.aedes.clients).sort(), ['thermo-1', 'thermo-2'])
  t.equal(await refusal(url, { clientId: 'ghost/phone', username: 'ghost', password: 'x' }), 5, 'as anonymous, it cannot hold a {user}/{device} client id')
  t.equal(await refusal(url, { clientId: 'alice/phone', username: 'alice', password: 'wrong' }), 4, 'a known user with a wrong password is refused')
  t.equal(await refusal(url, { clientId: 'sensor-3', username: 'alice', password: 'alice-pw' }), 5, 'a known user keeps the client id rule')
  const published = await device.publishAsync('plain/topic', 'x', { qos: 1 })
  t.ok(published !== undefined, 'it publishes as an anonymous client would')
})

t.test('without allowAnonymous an unknown user name is refused with 4, as before', async (t) => {
  const { url } = await server(t)
  t.equal(await refusal(url, { clientId: 'thermo/1', username: 'thermo', password: 'whatever' }), 4)
})

/** Credentials as the server hands them to the hook. */
function creds (username: string | undefined, password: string | undefined, clientId = `${username ?? 'anon'}/dev`, remoteAddress = '192.0.2.1'): Credentials {
  return { clientId, username, password: password === undefined ? undefined : Buffer.from(password), remoteAddress }
}

/** A store that counts password checks. */
function counting (store: UserStore): { store: UserStore, verified: () => number } {
  let count = 0
  const counted: UserStore = Object.create(store) as UserStore
  counted.verify = async (name, password) => {
    count++
    return await store.verify(name, password)
  }
  return { store: counted, verified: () => count }
}

t.test('during a backoff the right password is refused with 5 and a reason, and no password is checked', async (t) => {
  const inner = await tempUserStore(t)
  await inner.add('alice', 'alice-pw')
  const { store, verified } = counting(inner)
  const guard = new LoginGuard({ accountFailures: 3, baseDelayMs: 3_600_000, maxDelayMs: 3_600_000 })
  const authenticate = imAuthenticate({ users: store, tokens: new TokenService(store), guard })
  for (let i = 0; i < 3; i++) t.match(await authenticate(creds('alice', 'wrong')), { ok: false, returnCode: 4 })
  t.equal(verified(), 3)
  const result = await authenticate(creds('alice', 'alice-pw'))
  t.match(result, { ok: false, returnCode: 5, reason: /too many failed logins for this account: next attempt in 3600 s/ })
  t.equal(verified(), 3, 'the password was not checked')
  t.match(await authenticate(creds('alice', 'alice-pw', 'bob/dev')), { ok: false, returnCode: 5, reason: /client id/ }, 'a bad client id is refused before the guard is asked')
})

t.test('failed tokens count as failed logins, and a good login clears the account', async (t) => {
  const users = await tempUserStore(t)
  await users.add('alice', 'alice-pw')
  const tokens = new TokenService(users)
  const guard = new LoginGuard({ accountFailures: 3, baseDelayMs: 3_600_000 })
  const authenticate = imAuthenticate({ users, tokens, guard })
  const { token } = await tokens.issue('alice', 60)
  await authenticate(creds('alice', 'wrong'))
  await authenticate(creds('alice', token.slice(0, -2) + 'AA'))
  t.match(await authenticate(creds('alice', token)), { ok: true, user: 'alice' })
  await authenticate(creds('alice', 'wrong'))
  await authenticate(creds('alice', 'wrong'))
  t.match(await authenticate(creds('alice', 'alice-pw')), { ok: true, user: 'alice' }, 'two failures after the success are below three')
})

t.test('a malformed user name is refused with 4 and fills no account entry in the guard', async (t) => {
  const users = await tempUserStore(t)
  const guard = new LoginGuard()
  const authenticate = imAuthenticate({ users, tokens: new TokenService(users), guard })
  const long = 'x'.repeat(100)
  t.match(await authenticate(creds(long, 'pw')), { ok: false, returnCode: 4 })
  t.match(await authenticate(creds('Alice', 'pw')), { ok: false, returnCode: 4 })
  t.same(guard.size, { accounts: 0, addresses: 1 })
})
