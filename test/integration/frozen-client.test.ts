import { mkdtemp, rm } from 'node:fs/promises'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import mqtt from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { createServer } from '../../index.js'
import { waitFor } from '../helpers/wait-for.js'

async function drainTimeouts (server: ReturnType<typeof createServer>): Promise<number> {
  const { values } = await server.metrics.limitHits.get()
  return values.find(v => v.labels.limit === 'drainTimeout')?.value ?? 0
}

t.test('a client that stops reading is cut at the drain timeout, counted once however many writes were pending', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-frozen-'))
  const server = createServer({ dataDir: dir, mqttPort: 0, httpPort: null, host: '127.0.0.1', allowAnonymous: true, limits: { drainTimeout: 1000 } })
  t.teardown(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })
  const { mqtt: bound } = await server.listen()
  const port = bound!.port

  // subscribes, then never reads its socket again
  const frozen = netConnect(port, '127.0.0.1')
  t.teardown(() => { frozen.destroy() })
  let subacked = false
  const parser = mqttPacket.parser()
  parser.on('packet', (packet) => {
    if (packet.cmd === 'suback') {
      subacked = true
      frozen.pause()
      frozen.removeAllListeners('data')
    }
  })
  frozen.on('data', (chunk) => parser.parse(chunk))
  frozen.on('error', () => {})
  frozen.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'frozen', keepalive: 0 }))
  frozen.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'frozen/t', qos: 0 }] }))
  await waitFor(() => subacked, 'SUBACK')

  const pub = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'frozen-pub', reconnectPeriod: 0 })
  t.teardown(() => { pub.end(true) })
  await new Promise<void>((resolve) => pub.once('connect', () => resolve()))
  const payload = Buffer.alloc(8192, 1)
  let published = 0
  while (await drainTimeouts(server) === 0 && published < 20_000) {
    await new Promise<void>((resolve, reject) => pub.publish('frozen/t', payload, { qos: 1 }, (err) => err ? reject(err) : resolve()))
    published++
  }
  t.equal(await drainTimeouts(server), 1, `cut at the drain timeout after ${published} messages of 8 KiB`)
  // the other writes pending on it fail too: still one hit
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal(await drainTimeouts(server), 1, 'hail_limit_hits_total{limit="drainTimeout"} counted once')
})
