// Issue 18: devices that log in must come back after a Redis restart. While Redis is
// down the node cannot check a login; it used to answer CONNACK 3, on which mqtt.js (by
// default) and the SDK stopped reconnecting for good. Real redis-server killed and
// restarted, real sockets cut through a proxy so the clients reconnect during the outage.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import mqtt from 'mqtt'
import { createServer } from '../../index.js'
import { HailClient, type HailClientError } from '../../client/index.js'
import { CutProxy } from '../helpers/cut-proxy.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

const PASSWORD = 'correct horse battery staple'
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function healthz (port: number): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) })).status
  } catch {
    return 0
  }
}

t.test('after a Redis restart, a plain mqtt.js client and an SDK device that reconnected during the outage log in again by themselves', async (t) => {
  const redis = await RedisServer.start()
  const dir = await mkdtemp(join(tmpdir(), 'hail-redis-restart-'))
  const server = createServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: 0, redis: redis.url })
  const addresses = await server.listen()
  const httpPort = addresses.http!.port
  const proxy = await CutProxy.start({ host: '127.0.0.1', port: addresses.mqtt!.port })
  const url = `mqtt://127.0.0.1:${proxy.port}`
  for (const user of ['ann', 'bob', 'cy']) await server.users.add(user, PASSWORD)

  // mqtt.js as most programs use it: default options but a short reconnect period.
  const raw = await mqtt.connectAsync(url, { clientId: 'ann/sensor', username: 'ann', password: PASSWORD, clean: false, reconnectPeriod: 200 })
  const rawEvents: string[] = []
  raw.on('connect', () => rawEvents.push('connect'))
  raw.on('error', (err) => rawEvents.push(`error ${err.message}`))

  const sdkErrors: HailClientError[] = []
  const bob = new HailClient({ url, user: 'bob', device: 'phone', password: PASSWORD, reconnectPeriod: 200 })
  bob.on('error', (err) => sdkErrors.push(err))
  await bob.connect()
  const cy = new HailClient({ url: `mqtt://127.0.0.1:${addresses.mqtt!.port}`, user: 'cy', device: 'laptop', password: PASSWORD })
  const cyGot: string[] = []
  cy.on('message', (m) => { if (m.kind === 'text') cyGot.push((m.body as { text: string }).text) })
  await cy.connect()
  const dm = await bob.openDirect('cy')
  await bob.text(dm, 'before')

  t.teardown(async () => {
    raw.end(true)
    await bob.close()
    await cy.close()
    await proxy.close()
    await server.close()
    await redis.stop()
    await rm(dir, { recursive: true, force: true })
  })

  let bobOnline = true
  bob.on('disconnect', () => { bobOnline = false })
  bob.on('connect', () => { bobOnline = true })

  // Redis goes away, then the network blips: both clients reconnect into the outage.
  await redis.kill()
  await waitFor(async () => await healthz(httpPort) === 503, 'the node to notice Redis is down', 10_000)
  proxy.cut()
  await waitFor(() => !raw.connected && !bobOnline, 'both clients to lose their connection', 5000)
  proxy.restore()
  // Several attempts each, every one of them answered while Redis is still down.
  await sleep(2000)
  t.notOk(raw.connected, 'the plain client cannot log in while Redis is down')
  t.notOk(bobOnline, 'nor can the SDK device')
  t.notOk(rawEvents.some((e) => /Server unavailable/i.test(e)), `the plain client was not told "server unavailable" (it would stop for good): ${rawEvents.join(', ')}`)

  await redis.restart()
  const back = Date.now()
  await waitFor(async () => await healthz(httpPort) === 200, 'the node to serve again', 10_000)
  const healthyAfter = Date.now() - back
  t.comment(`/healthz 200 again ${healthyAfter} ms after redis-server was ready`)
  t.ok(healthyAfter <= 3000, `serving again within 3 s of Redis being back (${healthyAfter} ms; the goal is 1 s)`)

  await waitFor(() => raw.connected, 'the plain mqtt.js client to log in again by itself', 15_000)
  await waitFor(() => bobOnline, 'the SDK device to log in again by itself', 15_000)
  t.pass(`both back ${Date.now() - back} ms after Redis`)

  await raw.publishAsync('sensors/ann', 'after', { qos: 1 })
  t.pass('the plain client publishes (PUBACK) after the restart')
  const reply = await bob.text(dm, 'after')
  t.ok(reply.seq > 0, 'the SDK device sends after the restart')
  await waitFor(() => cyGot.includes('after'), 'the message sent after the restart to arrive', 10_000)
  t.same(cyGot, ['before', 'after'], 'the other side got both, once, in order')
  t.same(sdkErrors.filter((e) => e.code === 'HAIL_ERR_NOT_AUTHORIZED'), [], 'the SDK never took the outage for a refused login')
})
