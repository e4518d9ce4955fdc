import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { Daemon } from '../helpers/daemon.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function connect (port: number, clientId: string): MqttClient {
  return mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId, clean: false, reconnectPeriod: 200, connectTimeout: 5000 })
}

async function healthz (port: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) })
    return res.status
  } catch {
    return 0 // no answer at all: counted as neither
  }
}

t.test('Redis stopped for 10 s during QoS 1 traffic: the node withholds PUBACKs, reports 503, recovers, loses nothing acknowledged', async (t) => {
  const redis = await RedisServer.start()
  const dir = await mkdtemp(join(tmpdir(), 'hail-redis-outage-'))
  const { daemon, addresses } = await Daemon.start([
    '--data', dir, '--mqtt-port', '0', '--http-port', '0', '--host', '127.0.0.1',
    '--allow-anonymous', '--max-queue', '100000', '--log-level', 'info', '--redis', redis.url
  ])
  t.teardown(async () => {
    await daemon.kill9()
    await redis.stop()
    await rm(dir, { recursive: true, force: true })
  })
  const mqttPort = addresses.mqtt!.port
  const httpPort = addresses.http!.port

  const statuses: number[] = []
  let polling = true
  const poller = (async () => {
    while (polling) {
      const status = await healthz(httpPort)
      if (status !== 0 && status !== statuses.at(-1)) statuses.push(status)
      await sleep(100)
    }
  })()

  const received = new Set<number>()
  const sub = connect(mqttPort, 'outage-sub')
  t.teardown(() => { sub.end(true) })
  await new Promise<void>((resolve, reject) => {
    sub.once('error', reject)
    sub.once('connect', () => sub.subscribe('outage/t', { qos: 1 }, (err) => err ? reject(err) : resolve()))
  })
  sub.on('message', (_topic, payload) => { received.add(Number(payload.toString())) })

  const pub = connect(mqttPort, 'outage-pub')
  t.teardown(() => { pub.end(true) })
  await new Promise<void>((resolve) => pub.once('connect', () => resolve()))
  const acked = new Set<number>()
  const subEvents: string[] = []
  for (const event of ['connect', 'close', 'offline', 'reconnect'] as const) sub.on(event, () => subEvents.push(`${event}@${acked.size}`))
  let sent = 0
  let publishing = true
  const WINDOW = 10
  const publisher = (async () => {
    let inflight = 0
    while (publishing) {
      while (inflight >= WINDOW) await sleep(5)
      const i = sent++
      inflight++
      pub.publish('outage/t', String(i), { qos: 1 }, (err) => {
        inflight--
        if (!err) acked.add(i)
      })
      await sleep(2)
    }
    await waitFor(() => inflight === 0, 'every publish acknowledged after the outage', 120_000)
  })()

  await waitFor(() => acked.size >= 200, 'traffic before the outage', 60_000)
  await redis.kill()
  const ackedAtKill = acked.size
  await sleep(3000)
  const ackedEarlyInOutage = acked.size
  await sleep(7000)
  const ackedLateInOutage = acked.size
  await redis.restart()
  await waitFor(() => acked.size >= ackedLateInOutage + 200, 'traffic after the outage', 120_000)
  publishing = false
  await publisher
  t.comment(`acked before the outage ${ackedAtKill}; during its last 7 s ${ackedLateInOutage - ackedEarlyInOutage}; total sent ${sent}, acked ${acked.size}`)

  t.equal(ackedLateInOutage - ackedEarlyInOutage, 0, 'no PUBACK while Redis was down')
  t.equal(acked.size, sent, 'every publish was acknowledged in the end (the client resent the withheld ones)')
  await waitFor(() => [...acked].every((i) => received.has(i)), 'every acknowledged message delivered', 120_000)
    .catch(() => {})
  const missing = [...acked].filter((i) => !received.has(i))
  if (missing.length > 0) {
    // what the node said and what the subscriber went through, to tell a stall from a loss
    t.comment(`subscriber: ${subEvents.join(' ')}; received ${received.size}`)
    for (const line of daemon.lines.filter((l) => /"level":(40|50|60)/.test(l)).slice(-40)) t.comment(line.slice(0, 400))
  }
  t.same(missing, [], 'every PUBACKed message was delivered')
  polling = false
  await poller
  t.same(statuses, [200, 503, 200], '/healthz went 200, 503 while Redis was down, 200 after')
  t.equal(daemon.child.exitCode, null, 'the node never exited')
  t.equal(daemon.child.signalCode, null)
})
