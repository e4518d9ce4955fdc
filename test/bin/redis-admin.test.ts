// `hail user add` and `hail token` against the Redis several nodes share:
// what they write there is what a `hail --redis` node authenticates with.
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import mqtt from 'mqtt'
import t from 'tap'
import { Daemon, HAIL_BIN } from '../helpers/daemon.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

function hail (args: string[], stdin?: string): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [HAIL_BIN, ...args], (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? 1, stdout, stderr })
    })
    child.stdin!.end(stdin ?? '')
  })
}

t.test('users and tokens written with --redis let clients in on a node of that Redis', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(async () => await redis.stop())
  const dir = await mkdtemp(join(tmpdir(), 'hail-redis-admin-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))

  const added = await hail(['user', 'add', 'ann', '--password-stdin', '--redis', redis.url], 'correct horse\n')
  t.equal(added.code, 0, `user add exits 0 (${added.stderr})`)
  const listed = await hail(['user', 'list', '--redis', redis.url])
  t.match(listed.stdout, /\bann\b/, 'user list reads the user back from Redis')
  const issued = await hail(['token', 'ann', '--ttl', '10m', '--redis', redis.url])
  t.equal(issued.code, 0, `token exits 0 (${issued.stderr})`)
  const token = issued.stdout.trim()
  t.match(token, /^hail1\./, 'a token is printed')

  // The node's own data directory has no users at all: they can only come from Redis.
  const { daemon, addresses } = await Daemon.start(['--data', dir, '--redis', redis.url, '--mqtt-port', '0', '--http-port', '0'])
  t.teardown(async () => await daemon.stop())
  const url = `mqtt://127.0.0.1:${addresses.mqtt!.port}`
  for (const [how, password] of [['password', 'correct horse'], ['token', token]] as const) {
    const client = await mqtt.connectAsync(url, { clientId: `ann/${how}`, username: 'ann', password, reconnectPeriod: 0 })
    t.ok(client.connected, `ann connects with her ${how}`)
    await client.endAsync()
  }
  const refused = await mqtt.connectAsync(url, { clientId: 'ann/x', username: 'ann', password: 'wrong', reconnectPeriod: 0 }).then(() => 'connected', (err: Error) => err.message)
  t.not(refused, 'connected', 'a wrong password is refused')

  const gone = await hail(['user', 'del', 'ann', '--redis', redis.url])
  t.equal(gone.code, 0, 'user del exits 0')
  t.notMatch((await hail(['user', 'list', '--redis', redis.url])).stdout, /\bann\b/, 'the user is gone from Redis')
})

t.test('--redis without a URL is a usage error', async (t) => {
  const result = await hail(['user', 'list', '--redis'])
  t.equal(result.code, 2, 'exit 2')
  t.match(result.stderr, /--redis URL/, 'the message shows the expected form')
})

t.test('a user deleted with --redis, or through one node, loses its connections on every node and cannot come back', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(async () => await redis.stop())
  const urls: string[] = []
  const dirs: string[] = []
  for (let i = 0; i < 2; i++) {
    const dir = await mkdtemp(join(tmpdir(), 'hail-redis-admin-'))
    t.teardown(async () => await rm(dir, { recursive: true, force: true }))
    const { daemon, addresses } = await Daemon.start(['--data', dir, '--redis', redis.url, '--mqtt-port', '0', '--http-port', '0'])
    t.teardown(async () => await daemon.stop())
    urls.push(`mqtt://127.0.0.1:${addresses.mqtt!.port}`)
    dirs.push(dir)
  }
  for (const name of ['ann', 'ben', 'cy']) {
    const added = await hail(['user', 'add', name, '--password-stdin', '--redis', redis.url], 'correct horse\n')
    t.equal(added.code, 0, `user add ${name} exits 0 (${added.stderr})`)
  }
  const closed = new Set<string>()
  const connect = async (url: string, user: string, device: string): Promise<mqtt.MqttClient> => {
    const client = await mqtt.connectAsync(url, { clientId: `${user}/${device}`, username: user, password: 'correct horse', reconnectPeriod: 0 })
    client.on('close', () => closed.add(`${user}/${device}`))
    t.teardown(async () => await client.endAsync(true))
    return client
  }
  const refusedLogin = async (url: string, user: string): Promise<boolean> =>
    await mqtt.connectAsync(url, { clientId: `${user}/again`, username: user, password: 'correct horse', reconnectPeriod: 0 })
      .then(async (c) => { await c.endAsync(true); return false }, () => true)
  await connect(urls[0]!, 'ann', 'one')
  await connect(urls[1]!, 'ann', 'two')
  const ben = await connect(urls[0]!, 'ben', 'one')
  await connect(urls[1]!, 'cy', 'two')

  // Garbage on the notice channel is ignored: the nodes live on and still act on real notices below.
  const raw = new Redis(redis.url)
  t.teardown(() => { raw.disconnect() })
  t.equal(await raw.publish('hail:users:notice', 'not json'), 2, 'both nodes listen on the notice channel')
  await raw.publish('hail:users:notice', JSON.stringify({ op: 'user.del', name: '../ben' }))
  await raw.publish('hail:users:notice', JSON.stringify({ op: 'user.drop', name: 'ben' }))

  const gone = await hail(['user', 'del', 'ann', '--redis', redis.url])
  t.equal(gone.code, 0, `user del --redis exits 0 (${gone.stderr})`)
  await waitFor(() => closed.has('ann/one') && closed.has('ann/two'), 'ann\'s connections on both nodes to close', 30_000)
  t.pass('ann\'s connections on both nodes were closed')
  t.ok(await refusedLogin(urls[0]!, 'ann') && await refusedLogin(urls[1]!, 'ann'), 'ann cannot log in again on either node')

  // Through node one's admin socket (no --redis): node two closes cy's connection too.
  const viaSocket = await hail(['user', 'del', 'cy', '--data', dirs[0]!])
  t.equal(viaSocket.code, 0, `user del through the admin socket exits 0 (${viaSocket.stderr})`)
  await waitFor(() => closed.has('cy/two'), 'cy\'s connection on the other node to close', 30_000)
  t.pass('a user deleted through one node loses its connection on the other node')

  t.notOk(closed.has('ben/one'), 'ben, an unrelated user, is still connected')
  const granted = await ben.subscribeAsync('im/inbox/ben', { qos: 1 })
  t.equal(granted[0]?.qos, 1, 'and still served: his inbox subscription is granted')
})

t.test('hail user unlock --redis lifts the lockout on every node of that Redis', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(async () => await redis.stop())
  const dir = await mkdtemp(join(tmpdir(), 'hail-redis-unlock-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  t.equal((await hail(['user', 'add', 'ann', '--password-stdin', '--redis', redis.url], 'correct horse\n')).code, 0)
  const { daemon, addresses } = await Daemon.start(['--data', dir, '--redis', redis.url, '--mqtt-port', '0', '--http-port', '0'])
  t.teardown(async () => await daemon.stop())
  const login = (password: string): Promise<number> => new Promise((resolve) => {
    const client = mqtt.connect(`mqtt://127.0.0.1:${addresses.mqtt!.port}`, { clientId: 'ann/phone', username: 'ann', password, reconnectPeriod: 0 })
    client.once('connect', () => { client.end(true); resolve(0) })
    client.once('error', (err) => { client.end(true); resolve((err as { code?: number }).code ?? -1) })
  })
  for (let i = 0; i < 8; i++) await login('wrong')
  t.equal(await login('correct horse'), 5, 'the node keeps ann locked out after her failures')
  const unlocked = await hail(['user', 'unlock', 'ann', '--redis', redis.url])
  t.equal(unlocked.code, 0, `hail user unlock --redis exits 0 (${unlocked.stderr})`)
  // The CLI's start can outlast the 1 s window: then it finds ann no longer waiting, but still forgets her failures.
  t.match(unlocked.stderr, /^hail: ann (unlocked|was not locked out) \([5-8] failed logins forgotten\)/, 'the counts are read and lifted in Redis')
  t.equal(await login('correct horse'), 0, 'the right password lets ann in again')
  for (let i = 0; i < 4; i++) await login('wrong')
  t.equal(await login('correct horse'), 0, 'four failures after the unlock are below five: the earlier ones were forgotten')

  // The counts outlive the nodes: a lockout made while one ran holds after it stopped, until lifted.
  for (let i = 0; i < 6; i++) await login('wrong')
  await daemon.stop()
  const offline = await hail(['user', 'unlock', 'ann', '--redis', redis.url])
  t.match(offline.stderr, /^hail: ann (unlocked|was not locked out) \([5-6] failed logins forgotten\)/, 'read and lifted in Redis with no node running')
})
