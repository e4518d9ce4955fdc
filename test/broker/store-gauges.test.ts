import t, { type Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { HailServer } from '../../broker/index.js'
import { RedisServer } from '../helpers/redis-server.js'

// hail_retained_messages and hail_queued_packets, read from /metrics of a real
// server, in both store modes: kept on every store and delete, and right
// again after a restart.

interface Node { server: HailServer, mqttUrl: string, metricsUrl: string }

async function startNode (dir: string, redis?: string): Promise<Node> {
  const server = new HailServer({ dataDir: dir, host: '127.0.0.1', mqttPort: 0, httpPort: 0, allowAnonymous: true, sysInterval: 0, ...(redis === undefined ? {} : { redis }) })
  const { mqtt: m, http } = await server.listen()
  return { server, mqttUrl: `mqtt://127.0.0.1:${m!.port}`, metricsUrl: `http://127.0.0.1:${http!.port}/metrics` }
}

async function gauge (node: Node, name: string): Promise<number> {
  const text = await (await fetch(node.metricsUrl)).text()
  const line = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  return line === null ? NaN : Number(line[1])
}

/** Waits until the gauge reads `want` (writes land a moment after their PUBACK's effects are sent). */
async function gaugeReaches (node: Node, name: string, want: number): Promise<number> {
  let seen = NaN
  for (let i = 0; i < 100; i++) {
    seen = await gauge(node, name)
    if (seen === want) return seen
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return seen
}

function suite (mode: 'embedded' | 'redis'): void {
  t.test(`${mode}: the gauges follow retained messages and offline queues, and survive a restart`, async (t: Test) => {
    const dir = await mkdtemp(join(tmpdir(), 'hail-gauges-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    let redis: RedisServer | undefined
    if (mode === 'redis') {
      redis = await RedisServer.start()
      t.teardown(() => redis!.stop())
    }
    let node = await startNode(dir, redis?.url)
    let open = true
    t.teardown(async () => { if (open) await node.server.close() })
    t.equal(await gauge(node, 'hail_retained_messages'), 0, 'no retained message at first')
    t.equal(await gauge(node, 'hail_queued_packets'), 0, 'nothing queued at first')

    // retained: three topics set, one replaced, one cleared
    const pub = await mqtt.connectAsync(node.mqttUrl, { clientId: 'pub', reconnectPeriod: 0 })
    for (const topic of ['site/1', 'site/2', 'site/3']) await pub.publishAsync(topic, 'on', { qos: 1, retain: true })
    await pub.publishAsync('site/2', 'off', { qos: 1, retain: true })
    t.equal(await gaugeReaches(node, 'hail_retained_messages', 3), 3, 'a replaced message counts once')
    await pub.publishAsync('site/3', '', { qos: 1, retain: true })
    t.equal(await gaugeReaches(node, 'hail_retained_messages', 2), 2, 'an empty retained payload clears its topic')
    await pub.publishAsync('site/3', '', { qos: 1, retain: true })
    t.equal(await gaugeReaches(node, 'hail_retained_messages', 2), 2, 'clearing a topic that holds nothing changes nothing')

    // a persistent session goes offline; five QoS 1 messages wait for it
    const sub = await mqtt.connectAsync(node.mqttUrl, { clientId: 'sub', clean: false, reconnectPeriod: 0 })
    await sub.subscribeAsync('inbox/sub', { qos: 1 })
    await sub.endAsync()
    for (let i = 0; i < 5; i++) await pub.publishAsync('inbox/sub', `m${i}`, { qos: 1 })
    await pub.publishAsync('inbox/sub', 'qos0', { qos: 0 })
    t.equal(await gaugeReaches(node, 'hail_queued_packets', 5), 5, 'the five QoS 1 messages are queued; QoS 0 is not')
    await pub.endAsync()

    // restart on the same stores
    await node.server.close()
    open = false
    node = await startNode(dir, redis?.url)
    open = true
    t.equal(await gauge(node, 'hail_retained_messages'), 2, 'retained messages counted again after the restart')
    t.equal(await gauge(node, 'hail_queued_packets'), 5, 'queued packets counted again after the restart')

    // the session comes back and acknowledges its queue
    // handlers are in place before the socket even opens
    const back = mqtt.connect(node.mqttUrl, { clientId: 'sub', clean: false, reconnectPeriod: 0 })
    const got: string[] = []
    const all = new Promise<void>((resolve) => {
      back.on('message', (_topic, payload) => { got.push(String(payload)); if (got.length === 5) resolve() })
    })
    await all
    t.same(got, ['m0', 'm1', 'm2', 'm3', 'm4'], 'the queue is delivered')
    t.equal(await gaugeReaches(node, 'hail_queued_packets', 0), 0, 'and empties as its PUBACKs land')
    await back.endAsync()

    // a session ended by a clean CONNECT drops its queue with it
    const other = await mqtt.connectAsync(node.mqttUrl, { clientId: 'other', clean: false, reconnectPeriod: 0 })
    await other.subscribeAsync('inbox/other', { qos: 1 })
    await other.endAsync()
    const pub2 = await mqtt.connectAsync(node.mqttUrl, { clientId: 'pub2', reconnectPeriod: 0 })
    for (let i = 0; i < 2; i++) await pub2.publishAsync('inbox/other', `o${i}`, { qos: 1 })
    await pub2.endAsync()
    t.equal(await gaugeReaches(node, 'hail_queued_packets', 2), 2, 'two queued for the other session')
    const clean = await mqtt.connectAsync(node.mqttUrl, { clientId: 'other', clean: true, reconnectPeriod: 0 })
    t.equal(await gaugeReaches(node, 'hail_queued_packets', 0), 0, 'a clean session wipes them')
    await clean.endAsync()

    // retained messages delivered to a new subscriber are still stored
    t.equal(await gauge(node, 'hail_retained_messages'), 2)
  })
}

suite('embedded')
suite('redis')
