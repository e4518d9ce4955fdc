import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { Acl, type AclIdentity } from '../../../broker/acl/acl.js'
import { parseAclFile } from '../../../broker/acl/acl-file.js'

/**
 * The same ACL file, loaded by Mosquitto 2 and by Hail, must let the same
 * clients publish and receive the same topics. Mosquitto is the reference the
 * file format comes from; this checks the common ground, where Hail means to
 * agree. (Known differences, by design: a deny wins across user and pattern
 * rules in Hail, only within its own list in Mosquitto; Mosquitto's acl_file
 * grants every SUBSCRIBE and filters at delivery, Hail refuses a filter that
 * no read rule covers; `im/` and `$SYS/` are Hail's own.)
 */

const ACL = `
# anonymous clients
topic read pub/#
topic write anon/in

user alice
topic readwrite a/#
topic deny a/secret
topic read r/+
topic write w/+/x

user bob
topic read a/#
topic write pub/news

user admin
topic readwrite #
topic readwrite $app/#

user root
topic readwrite #

pattern readwrite u/%u/#
pattern deny u/%u/locked
pattern read c/%c
pattern write s/%c/+
`

const TOPICS = [
  'pub/x', 'pub/news', 'anon/in', 'a', 'a/x', 'a/secret', 'a/x/y', 'r/1', 'r/1/2', 'w/1/x', 'w/x',
  'u/alice', 'u/alice/x', 'u/alice/locked', 'u/bob/x', 'c/dev1', 'c/alice-1', 'c/ab-1',
  's/dev1/t', 's/alice-1/t', 's/dev1/t/u', '$app/x', 'x/y'
]

const IDENTITIES: AclIdentity[] = [
  { user: null, clientId: 'dev1' },
  { user: null, clientId: 'x+y' },
  { user: 'alice', clientId: 'alice-1' },
  { user: 'bob', clientId: 'bob-1' },
  { user: 'root', clientId: 'root-1' },
  { user: 'a+b', clientId: 'ab-1' },
  { user: '#', clientId: 'hash-1' }
]

function findMosquitto (): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin']
  return dirs.map((dir) => join(dir, 'mosquitto')).find((path) => existsSync(path))
}

async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function connect (port: number, identity: AclIdentity): Promise<MqttClient> {
  const options = {
    clientId: identity.clientId,
    protocolVersion: 4 as const,
    reconnectPeriod: 0,
    connectTimeout: 2000,
    ...(identity.user === null ? {} : { username: identity.user })
  }
  for (let attempt = 0; ; attempt++) {
    try {
      return await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, options)
    } catch (err) {
      // Mosquitto takes a moment to listen after spawn.
      if (attempt >= 100) throw err
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

/**
 * Resolves once every message the broker routed to `client` before this call
 * has arrived: Mosquitto queues the SUBACK behind them, and mqtt.js handles
 * packets in order.
 */
async function drained (client: MqttClient): Promise<void> {
  await client.subscribeAsync('barrier/none', { qos: 0 })
}

const mosquitto = findMosquitto()

t.test('Mosquitto and Hail agree on who may publish and receive what under one ACL file',
  { skip: mosquitto === undefined ? 'mosquitto is not installed' : false },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'hail-acl-'))
    t.teardown(async () => await rm(dir, { recursive: true, force: true }))
    // Run as root, Mosquitto drops to its own user before it reads the ACL file.
    await chmod(dir, 0o755)
    const port = await freePort()
    const aclPath = join(dir, 'acl')
    const confPath = join(dir, 'mosquitto.conf')
    await writeFile(aclPath, ACL, { mode: 0o644 })
    await writeFile(confPath, `listener ${port} 127.0.0.1\nallow_anonymous true\nacl_file ${aclPath}\n`, { mode: 0o644 })

    const broker = spawn(mosquitto as string, ['-c', confPath], { stdio: ['ignore', 'ignore', 'pipe'] })
    let log = ''
    broker.stderr.on('data', (chunk: Buffer) => { log += chunk.toString() })
    const exited = new Promise((resolve) => broker.once('exit', resolve))
    // Also when tap kills this process on a timeout, so no broker outlives the test.
    const stop = (): void => { broker.kill() }
    process.once('exit', stop)
    t.teardown(async () => {
      process.removeListener('exit', stop)
      broker.kill()
      await exited
    })

    const hail = new Acl(parseAclFile(ACL, 'compat.acl'))
    const admin = { user: 'admin', clientId: 'admin-1' }
    const clients = new Map<AclIdentity, MqttClient>()
    try {
      for (const identity of [admin, ...IDENTITIES]) clients.set(identity, await connect(port, identity))
    } catch (err) {
      throw new Error(`cannot reach mosquitto: ${String(err)}\n${log}`)
    }
    t.teardown(async () => { await Promise.all([...clients.values()].map(async (c) => await c.endAsync())) })
    const adminClient = clients.get(admin) as MqttClient

    // Receive: the admin publishes every topic; each identity listens on everything.
    const received = new Map<AclIdentity, Set<string>>()
    for (const identity of IDENTITIES) {
      const topics = new Set<string>()
      received.set(identity, topics)
      const client = clients.get(identity) as MqttClient
      client.on('message', (topic) => topics.add(topic))
      await client.subscribeAsync(['#', '$app/#'], { qos: 0 })
    }
    for (const topic of TOPICS) await adminClient.publishAsync(topic, 'x', { qos: 1 })
    for (const identity of IDENTITIES) {
      await drained(clients.get(identity) as MqttClient)
      const who = JSON.stringify(identity)
      t.strictSame([...(received.get(identity) as Set<string>)].sort(),
        TOPICS.filter((topic) => hail.canReceive(identity, topic)).sort(), `${who} receives the same topics`)
      ;(clients.get(identity) as MqttClient).removeAllListeners('message')
    }

    // Publish: each identity publishes every topic; the admin sees what got through.
    const published = new Set<string>()
    adminClient.on('message', (topic, payload) => published.add(`${payload.toString()} ${topic}`))
    await adminClient.subscribeAsync(['#', '$app/#'], { qos: 0 })
    for (const [i, identity] of IDENTITIES.entries()) {
      const client = clients.get(identity) as MqttClient
      // Mosquitto PUBACKs a refused QoS 1 PUBLISH too (MQTT 3.1.1 has no way to say no).
      for (const topic of TOPICS) await client.publishAsync(topic, String(i), { qos: 1 })
    }
    await drained(adminClient)
    for (const [i, identity] of IDENTITIES.entries()) {
      const through = TOPICS.filter((topic) => published.has(`${i} ${topic}`))
      t.strictSame(through, TOPICS.filter((topic) => hail.canPublish(identity, topic)),
        `${JSON.stringify(identity)} may publish the same topics`)
    }
  })
