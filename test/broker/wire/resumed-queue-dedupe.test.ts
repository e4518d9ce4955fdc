import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Client } from 'aedes'
import mqtt from 'mqtt'
import { HailServer } from '../../../broker/index.js'
import { waitFor } from '../../helpers/wait-for.js'

t.test('messages published while a connection takes a persistent session over arrive once, and the connection stays', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-resume-'))
  const server = new HailServer({ dataDir: dir, host: '127.0.0.1', mqttPort: 0, httpPort: null, allowAnonymous: true })
  const { mqtt: bound } = await server.listen()
  t.teardown(async () => { await server.close(); await rm(dir, { recursive: true, force: true }) })
  const url = `mqtt://127.0.0.1:${bound!.port}`
  const first = await mqtt.connectAsync(url, { clientId: 'device', clean: false, reconnectPeriod: 0 })
  await first.subscribeAsync('ev/#', { qos: 1 })
  const publish = (topic: string): void => {
    server.aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(topic), qos: 1, retain: false, dup: false }, () => {})
  }
  const rounds = 100
  let closed = 0
  const got = new Set<string>()
  /** Messages one connection received twice (a resend to a later connection is QoS 1 at work, not this). */
  const twice: string[] = []
  let previous = first
  for (let round = 0; round < rounds; round++) {
    // As aedes registers the new connection (its subscriptions live, its queue not read yet), publish to it over a few ms.
    const onClient = (client: Client): void => {
      if (client.id !== 'device') return
      server.aedes.off('client', onClient)
      for (let i = 0; i < 6; i++) setTimeout(() => publish(`ev/${round}/${i}`), i)
    }
    server.aedes.on('client', onClient)
    const next = mqtt.connect(url, { clientId: 'device', clean: false, reconnectPeriod: 0 })
    const mine = new Set<string>()
    next.on('message', (topic) => {
      if (mine.has(topic)) twice.push(topic)
      mine.add(topic)
      got.add(topic)
    })
    next.on('close', () => { if (next !== previous || round === rounds) closed++ })
    await new Promise<void>((resolve, reject) => next.once('connect', () => resolve()).once('error', reject))
    await waitFor(() => got.has(`ev/${round}/5`) || !next.connected, `round ${round}'s messages`)
    previous.end(true)
    previous = next
  }
  await waitFor(() => got.size === rounds * 6 || !previous.connected, 'every message')
  // closes counted are of connections that were not taken over: the last one's own.
  t.equal(closed, 0, 'no connection was closed by the server')
  t.equal(got.size, rounds * 6, 'every message arrived')
  t.same(twice, [], 'no connection got a message twice')
  previous.end(true)
})
