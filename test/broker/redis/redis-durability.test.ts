import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import { Redis } from 'ioredis'
import pino from 'pino'
import { HailServer } from '../../../broker/index.js'
import { checkRedisDurability } from '../../../broker/redis/redis-durability.js'
import { RedisServer } from '../../helpers/redis-server.js'

/** A pino logger whose lines land in `lines`. */
function captureLogger () {
  const lines: Array<{ level: number, msg: string }> = []
  const stream = new Writable({ write (chunk, _enc, done) { lines.push(JSON.parse(chunk.toString())); done() } })
  return { logger: pino({ level: 'info' }, stream), lines }
}

t.test('checkRedisDurability() accepts a Redis with appendonly yes and appendfsync always, silently', async (t) => {
  const server = await RedisServer.start()
  const redis = new Redis(server.url)
  t.teardown(async () => { redis.disconnect(); await server.stop() })
  const { logger, lines } = captureLogger()
  const result = await checkRedisDurability(redis, { requireFsync: true, logger })
  t.same(result, { appendonly: 'yes', appendfsync: 'always', fsyncEveryWrite: true, maxmemoryPolicy: 'noeviction' })
  t.same(lines, [])
})

t.test('checkRedisDurability() on a Redis without fsync warns loudly, or refuses with requireFsync', async (t) => {
  const server = await RedisServer.start({ appendfsyncAlways: false })
  const redis = new Redis(server.url)
  t.teardown(async () => { redis.disconnect(); await server.stop() })
  const { logger, lines } = captureLogger()
  const result = await checkRedisDurability(redis, { requireFsync: false, logger })
  t.equal(result.fsyncEveryWrite, false)
  t.equal(result.appendonly, 'no')
  t.equal(lines.length, 1)
  t.equal(lines[0].level, 40, 'a warning')
  t.match(lines[0].msg, /DURABILITY WARNING.*appendonly no.*appendfsync always/)
  await t.rejects(checkRedisDurability(redis, { requireFsync: true, logger }), { code: 'HAIL_ERR_STORE', message: /redisRequireFsync/ })
})

t.test('checkRedisDurability() warns loudly when Redis may evict keys (maxmemory-policy other than noeviction)', async (t) => {
  const server = await RedisServer.start()
  const redis = new Redis(server.url)
  t.teardown(async () => { redis.disconnect(); await server.stop() })
  await redis.config('SET', 'maxmemory-policy', 'allkeys-lru')
  const { logger, lines } = captureLogger()
  const result = await checkRedisDurability(redis, { requireFsync: true, logger })
  t.equal(result.maxmemoryPolicy, 'allkeys-lru')
  t.equal(result.fsyncEveryWrite, true, 'fsync is still fine: no refusal')
  t.equal(lines.length, 1)
  t.equal(lines[0].level, 40, 'a warning')
  t.match(lines[0].msg, /DURABILITY WARNING.*maxmemory-policy allkeys-lru.*evict.*noeviction/)
})

t.test('a server with redisRequireFsync refuses to start on a Redis without fsync and starts without it', async (t) => {
  const server = await RedisServer.start({ appendfsyncAlways: false })
  const dir = await mkdtemp(join(tmpdir(), 'hail-redis-fsync-'))
  t.teardown(async () => { await server.stop(); await rm(dir, { recursive: true, force: true }) })
  const options = { dataDir: dir, mqttPort: 0, httpPort: null, host: '127.0.0.1', redis: server.url }
  const strict = new HailServer({ ...options, redisRequireFsync: true })
  await t.rejects(strict.listen(), { code: 'HAIL_ERR_STORE', message: /appendfsync/ })

  const { logger, lines } = captureLogger()
  const lenient = new HailServer({ ...options, logger })
  await lenient.listen()
  t.ok(lenient.listening, 'started')
  t.ok(lines.some((l) => l.level === 40 && /DURABILITY WARNING/.test(l.msg)), 'with the warning in its log')
  await lenient.close()
})

t.test('a server refuses to start when Redis cannot be reached, naming it', async (t) => {
  const server = await RedisServer.start()
  const url = server.url
  await server.stop()
  const dir = await mkdtemp(join(tmpdir(), 'hail-redis-none-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const hail = new HailServer({ dataDir: dir, mqttPort: 0, httpPort: null, redis: url })
  await t.rejects(hail.listen(), { code: 'HAIL_ERR_STORE', message: /cannot reach Redis at redis:\/\/127\.0\.0\.1/ })
})

t.test('a redis option that is not a redis:// URL is a config error naming the key', async (t) => {
  t.throws(() => new HailServer({ redis: 'http://127.0.0.1:6379' }), { code: 'HAIL_ERR_CONFIG', message: /redis/ })
})

t.test('a Redis that wants a password: a missing or wrong one is refused at start with Redis\' own reason, not "Connection is closed"', async (t) => {
  const server = await RedisServer.start()
  const admin = new Redis(server.url)
  await admin.config('SET', 'requirepass', 's3cret')
  admin.disconnect()
  const dir = await mkdtemp(join(tmpdir(), 'hail-redis-auth-'))
  t.teardown(async () => { await server.stop(); await rm(dir, { recursive: true, force: true }) })
  const url = new URL(server.url)
  const missing = new HailServer({ dataDir: dir, mqttPort: 0, httpPort: null, redis: url.toString() })
  await t.rejects(missing.listen(), { code: 'HAIL_ERR_STORE', message: /refused the login: NOAUTH/ }, 'no password: NOAUTH')
  url.password = 'wrong'
  const wrong = new HailServer({ dataDir: dir, mqttPort: 0, httpPort: null, redis: url.toString() })
  const err = await wrong.listen().then(() => undefined, (e: Error) => e)
  t.match(err, { code: 'HAIL_ERR_STORE', message: /refused the login: WRONGPASS/ }, 'a wrong password: WRONGPASS')
  t.notMatch(err?.message ?? '', /wrong/, 'the password itself is not in the message')
  url.password = 's3cret'
  const right = new HailServer({ dataDir: dir, mqttPort: 0, httpPort: null, redis: url.toString() })
  await right.listen()
  t.ok(right.listening, 'the right password starts')
  await right.close()
})
