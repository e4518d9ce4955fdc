import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import t from 'tap'
import { createServer } from '../../index.js'
import { waitFor } from '../helpers/wait-for.js'

// LevelPersistence answers aedes' will lookup at each CONNECT from the will
// keys it loaded at start and keeps (no read for a client without a will);
// what a device sees stays the same: a will goes out when its connection is
// lost, and only the will of its latest connection.
t.test('wills with the embedded store: sent when a connection is lost, and only the latest connection\'s', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-wills-'))
  const server = createServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: null, allowAnonymous: true })
  const port = (await server.listen()).mqtt!.port
  const clients: MqttClient[] = []
  t.teardown(async () => {
    for (const c of clients) c.end(true)
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })
  const connect = async (clientId: string, extra: IClientOptions = {}): Promise<MqttClient> => {
    const client = mqtt.connect({ host: '127.0.0.1', port, clientId, reconnectPeriod: 0, ...extra })
    clients.push(client)
    await once(client, 'connect')
    return client
  }
  const will = (topic: string): IClientOptions => ({ will: { topic, payload: Buffer.from('left'), qos: 1, retain: false } })
  const heard: string[] = []
  const watcher = await connect('watcher')
  watcher.on('message', (topic) => heard.push(topic))
  await watcher.subscribeAsync('wills/#', { qos: 1 })

  const a = await connect('a', will('wills/a'))
  a.stream.destroy()
  await waitFor(() => heard.includes('wills/a'), 'the will of a lost connection', 5000)

  for (let i = 0; i < 3; i++) {
    const b = await connect('b', { ...will(`wills/b${i}`), clean: false })
    if (i < 2) await b.endAsync() // a DISCONNECT: that will is dropped
    else b.stream.destroy()
  }
  const c = await connect('c', { clean: false }) // never had a will
  c.stream.destroy()
  await waitFor(() => heard.includes('wills/b2'), 'the will of b\'s last connection', 5000)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(heard, ['wills/a', 'wills/b2'], 'each lost connection\'s own will, once; none for a DISCONNECT or a client without one')
})
