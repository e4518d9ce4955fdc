import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import net from 'node:net'
import mqtt from 'mqtt'
import { HailServer } from '../../broker/index.js'

async function tempDir (): Promise<string> {
  return await mkdtemp(join(tmpdir(), 'hail-server-'))
}

/** Handles that keep a process alive, by kind: what close() must give back. */
function liveHandles (): Map<string, number> {
  const counts = new Map<string, number>()
  for (const kind of process.getActiveResourcesInfo()) {
    counts.set(kind, (counts.get(kind) ?? 0) + 1)
  }
  return counts
}

async function start (dir: string): Promise<{ server: HailServer, mqttPort: number, httpPort: number }> {
  const server = new HailServer({ dataDir: dir, host: '127.0.0.1', mqttPort: 0, httpPort: 0, allowAnonymous: true })
  const addresses = await server.listen()
  return { server, mqttPort: addresses.mqtt!.port, httpPort: addresses.http!.port }
}

t.test('two servers in one process serve their own clients and both close without leaving handles open', async (t) => {
  const dirs = [await tempDir(), await tempDir()]
  t.teardown(() => Promise.all(dirs.map(async (d) => await rm(d, { recursive: true, force: true }))))
  // Let tap's own start-up handles settle before taking the baseline.
  await new Promise((resolve) => setTimeout(resolve, 50))
  const before = liveHandles()

  const a = await start(dirs[0]!)
  const b = await start(dirs[1]!)
  t.not(a.mqttPort, b.mqttPort, 'each server has its own port')

  const subA = await mqtt.connectAsync(`mqtt://127.0.0.1:${a.mqttPort}`, { clientId: 'sub-a' })
  const subB = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.mqttPort}`, { clientId: 'sub-b' })
  await subA.subscribeAsync('embed/#', { qos: 1 })
  await subB.subscribeAsync('embed/#', { qos: 1 })
  const gotA: string[] = []
  const gotB: string[] = []
  subA.on('message', (_t, p) => gotA.push(p.toString()))
  subB.on('message', (_t, p) => gotB.push(p.toString()))

  const pubA = await mqtt.connectAsync(`mqtt://127.0.0.1:${a.mqttPort}`, { clientId: 'pub-a' })
  await pubA.publishAsync('embed/x', 'to a', { qos: 1 })
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(gotA, ['to a'], 'a subscriber on server A gets what was published to A')
  t.same(gotB, [], 'server B never sees what was published to A')

  const health = await fetch(`http://127.0.0.1:${b.httpPort}/healthz`)
  t.equal(health.status, 200, '/healthz answers 200 while listening')

  await Promise.all([subA.endAsync(), subB.endAsync(), pubA.endAsync()])
  await Promise.all([a.server.close(), b.server.close()])
  await new Promise((resolve) => setImmediate(resolve))

  t.same(liveHandles(), before, 'no sockets, servers or timers are left behind')
  await t.rejects(new Promise((resolve, reject) => {
    const s = net.connect(a.mqttPort, '127.0.0.1', () => { s.destroy(); resolve(null) })
    s.on('error', reject)
  }), 'a closed server no longer accepts connections')
})

t.test('close() twice is safe and emits close once', async (t) => {
  const dir = await tempDir()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { server } = await start(dir)
  let closes = 0
  server.on('close', () => closes++)
  await Promise.all([server.close(), server.close()])
  await server.close()
  t.equal(closes, 1)
})

t.test('new HailServer() with an unknown option throws a ConfigError naming it', async (t) => {
  t.throws(() => new HailServer({ mqttPort: 1883, bogus: true } as never), { code: 'HAIL_ERR_CONFIG', message: /bogus/ })
  t.throws(() => new HailServer({ mqttPort: 70000 }), { code: 'HAIL_ERR_CONFIG', message: /mqttPort/ })
})

t.test('listen() with an unreadable TLS file rejects naming the file, and leaves nothing open', async (t) => {
  const dir = await tempDir()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const key = join(dir, 'key.pem')
  await writeFile(key, 'not really a key')
  const server = new HailServer({
    dataDir: dir, host: '127.0.0.1', mqttPort: 0, httpPort: 0, tls: { cert: join(dir, 'missing.pem'), key }
  })
  await t.rejects(server.listen(), { code: 'HAIL_ERR_LISTEN', message: /missing\.pem/ })
})

t.test('a second server on the same data directory is refused with a clear error', async (t) => {
  const dir = await tempDir()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { server } = await start(dir)
  t.teardown(() => server.close())
  const second = new HailServer({ dataDir: dir, host: '127.0.0.1', mqttPort: 0, httpPort: 0 })
  await t.rejects(second.listen(), { code: 'HAIL_ERR_STORE', message: /in use/ })
})

t.test('/metrics speaks the Prometheus text format', async (t) => {
  const dir = await tempDir()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { server, httpPort } = await start(dir)
  t.teardown(() => server.close())
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /text\/plain/)
  const text = await res.text()
  t.match(text, /# TYPE hail_connections gauge/)
  t.match(text, /# TYPE hail_limit_hits_total counter/)
})

t.test('/metrics counts connections when read, and messages in and out', async (t) => {
  const dir = await tempDir()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { server, mqttPort, httpPort } = await start(dir)
  t.teardown(() => server.close())
  const value = async (line: RegExp): Promise<number> => Number(line.exec(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text())?.[1] ?? NaN)
  t.equal(await value(/^hail_connections (\d+)$/m), 0)
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'sub' })
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'pub' })
  t.teardown(async () => { await sub.endAsync(true); await pub.endAsync(true) })
  t.equal(await value(/^hail_connections (\d+)$/m), 2, 'read at collection, without a client event to set it')
  await sub.subscribeAsync('t/#', { qos: 1 })
  const got = new Promise((resolve) => sub.once('message', resolve))
  await pub.publishAsync('t/1', 'x', { qos: 1 })
  await got
  t.ok(await value(/^hail_messages_in_total\{qos="1"\} (\d+)$/m) >= 1, 'the publish came in')
  t.equal(await value(/^hail_messages_out_total\{qos="1"\} (\d+)$/m), 1, 'and went out once, to the one subscriber')
  t.equal(await value(/^hail_publishes_in_flight (\d+)$/m), 0, 'nothing left in flight')
})

t.test('without --allow-anonymous and without users, a client is refused with CONNACK 5', async (t) => {
  const dir = await tempDir()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const server = new HailServer({ dataDir: dir, host: '127.0.0.1', mqttPort: 0, httpPort: null })
  const { mqtt: bound } = await server.listen()
  t.teardown(() => server.close())
  await t.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${bound!.port}`, { reconnectPeriod: 0 }), /Not authorized/i)
  await t.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${bound!.port}`, { username: 'x', password: 'y', reconnectPeriod: 0 }), /Not authorized/i)
})
