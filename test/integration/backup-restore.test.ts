// `hail backup DIR` while the daemon runs, `hail restore DIR` into a new data
// directory: every user, message, conversation, retained message and queued
// message is back, and a file too (issue 19).
import t from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { addUser, Daemon } from '../helpers/daemon.js'
import { hail } from '../helpers/hail-cli.js'
import { PASSWORD, RawDevice } from '../helpers/im-server.js'
import { waitFor } from '../helpers/wait-for.js'

const MESSAGES = 200
const QUEUED = 50

function args (dir: string): string[] {
  return ['--data', dir, '--mqtt-port', '0', '--http-port', 'off', '--allow-anonymous']
}

async function login (port: number, user: string, device: string, clean = false): Promise<MqttClient> {
  return await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `${user}/${device}`, username: user, password: PASSWORD, clean, reconnectPeriod: 0 })
}

async function history (port: number, conv: string): Promise<string[]> {
  const reader = await RawDevice.connect(t, port, 'carol', `reader${Math.random().toString(36).slice(2, 8)}`, { clean: true })
  const texts: string[] = []
  for (let after = 0, more = true; more;) {
    const page = await reader.request('sync', { conv, after, limit: 500 })
    texts.push(...page.messages.map((m: any) => m.body.text as string))
    more = page.more
    after = page.messages.at(-1)?.seq ?? after
  }
  await reader.end()
  return texts
}

t.test('backup while the daemon runs, restore into a new data directory: everything is back', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'hail-backup-'))
  t.teardown(() => rm(root, { recursive: true, force: true }))
  const [data, backup, offline, restored] = ['data', 'backup', 'offline', 'restored'].map((name) => join(root, name)) as [string, string, string, string]
  for (const user of ['alice', 'bob', 'carol']) await addUser(data, user, PASSWORD)

  let { daemon, addresses } = await Daemon.start([...args(data), '--log-level', 'info'])
  t.teardown(() => daemon.kill9())
  let port = addresses.mqtt!.port
  // A group of three; bob's phone is offline with a persistent session, so his deliveries queue.
  const bob = await login(port, 'bob', 'phone')
  await bob.subscribeAsync('im/inbox/bob/#', { qos: 1 })
  await bob.endAsync()
  const alice = await RawDevice.connect(t, port, 'alice', 'laptop')
  const { conv } = await alice.request('group.create', { name: 'backup', members: ['bob', 'carol'] })
  for (let i = 0; i < MESSAGES; i++) {
    await alice.client.publishAsync(`im/send/${conv}`, JSON.stringify({ cid: `m${i}`, kind: 'text', body: { text: `message ${i}` } }), { qos: 1 })
  }
  // Plain MQTT: a retained message, and QoS 1 messages queued for an offline persistent subscriber.
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'sink', clean: false, reconnectPeriod: 0 })
  await sub.subscribeAsync('plant/#', { qos: 1 })
  await sub.endAsync()
  const sensor = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'sensor', reconnectPeriod: 0 })
  await sensor.publishAsync('plant/state', 'running', { qos: 1, retain: true })
  for (let i = 0; i < QUEUED; i++) await sensor.publishAsync('plant/reading', String(i), { qos: 1 })
  await sensor.endAsync()
  await alice.end()
  const before = await history(port, conv)
  t.equal(before.length, MESSAGES + 1, 'the group holds its messages (and its creation)')

  const backedUp = await hail(['backup', backup, '--data', data])
  t.equal(backedUp.code, 0, `hail backup exits 0 while the daemon runs (${backedUp.stderr})`)
  t.match(backedUp.stdout, new RegExp(`^backed up ${data} into ${backup} \\(write batch #\\d+\\)\\n`), 'and says what it copied')
  t.match(backedUp.stdout, /users\s+3\n[\s\S]*conversations\s+1\n[\s\S]*retained\s+\d+\n\s+queued\s+\d+\n/, 'with counts per store')
  await waitFor(() => daemon.lines.some((l) => l.includes('"op":"data.backup"')), 'the daemon to log the backup op')
  t.pass('the running daemon took the backup (through its admin socket)')
  const described = JSON.parse(await readFile(join(backup, 'hail-backup.json'), 'utf8'))
  t.equal(described.stores.counts.messages, MESSAGES + 1, 'the backup holds every message')
  t.ok(described.stores.counts.queued >= QUEUED + MESSAGES, 'and the queues of the offline sessions')

  t.equal(await daemon.stop(), 0, 'the daemon stops')
  const offlineBackup = await hail(['backup', offline, '--data', data])
  t.equal(offlineBackup.code, 0, `hail backup works with no daemon too (${offlineBackup.stderr})`)
  t.same(JSON.parse(await readFile(join(offline, 'hail-backup.json'), 'utf8')).stores, described.stores, 'and copies the same')

  const refused = await hail(['restore', backup, '--data', data])
  t.equal(refused.code, 1, 'restore refuses a data directory that holds a database')
  t.match(refused.stderr, /^hail: will not restore into \S+: it holds a database/, 'and says so')
  const restoring = await hail(['restore', backup, '--data', restored])
  t.equal(restoring.code, 0, `hail restore exits 0 (${restoring.stderr})`)
  t.match(restoring.stdout, /^restored \S+ from the backup of /, 'and says from which backup')

  ;({ daemon, addresses } = await Daemon.start(args(restored)))
  port = addresses.mqtt!.port
  t.same((await hail(['user', 'list', '--data', restored])).stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]), ['alice', 'bob', 'carol'], 'every user is back')
  t.same(await history(port, conv), before, 'every message of the conversation is back, in order')
  const bobAgain = await login(port, 'bob', 'phone') // passwords too: the hashes are back
  const queuedIm: string[] = []
  bobAgain.on('message', (topic) => { if (topic.startsWith('im/inbox/bob')) queuedIm.push(topic) })
  await waitFor(() => queuedIm.length >= MESSAGES, 'bob\'s queued deliveries')
  await bobAgain.endAsync()
  t.pass('bob\'s phone gets the deliveries queued before the backup')
  // listening before CONNACK: the queued messages may come in the same read
  const sink = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'sink', clean: false, reconnectPeriod: 0 })
  const readings: string[] = []
  const states: string[] = []
  sink.on('message', (topic, payload) => (topic === 'plant/reading' ? readings : states).push(payload.toString()))
  await waitFor(() => readings.length >= QUEUED, 'the queued readings')
  t.same(readings, Array.from({ length: QUEUED }, (_, i) => String(i)), 'the queued QoS 1 messages are back, in order')
  // plant/# was subscribed when plant/state was published: it was queued too, ahead of the readings
  t.same(states, ['running'], 'plant/state came through the queue as well, before the readings')
  states.length = 0
  await sink.subscribeAsync('plant/state', { qos: 1 })
  await waitFor(() => states.length > 0, 'the retained message')
  t.same(states, ['running'], 'and the retained message on subscribing')
  await sink.endAsync()
  t.equal(await daemon.stop(), 0)
})
