import t from 'tap'
import { imServer, RawDevice } from '../helpers/im-server.js'
import { waitFor } from '../helpers/wait-for.js'

// limits.maxLiveQueueBytes (broker/persistence/live-outgoing.ts LiveBudget):
// deliveries sent to connected devices and not yet acknowledged are held in
// memory only up to a node-wide number of bytes; past it they take the
// durable queue and the IM fan-out holds senders' PUBACKs. With real clients
// that acknowledge slowly, the bound must hold and every message arrive once,
// in order, to every member.

const BOUND = 64 * 1024
const MESSAGES = 200
const TEXT = 'x'.repeat(2000)

t.test('the memory held by unacknowledged deliveries stays under limits.maxLiveQueueBytes, and every message arrives once, in order', async (t) => {
  const members = ['bob', 'carol', 'dave', 'erin']
  const { server, port } = await imServer(t, ['alice', ...members], { limits: { maxLiveQueueBytes: BOUND } })
  const budget = server.backend.liveBudget
  if (budget === undefined) throw new Error('the embedded backend has a live budget')
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const readers = await Promise.all(members.map(async (user) => await RawDevice.connect(t, port, user, 'phone')))
  const { conv } = await alice.request('group.create', { name: 'bound', members })
  // slow readers: each PUBACK 3 ms after the message (mqtt.js acknowledges when handleMessage calls back)
  for (const reader of readers) {
    const handle = reader.client.handleMessage.bind(reader.client)
    reader.client.handleMessage = (packet, done) => { setTimeout(() => handle(packet, done), 3) }
  }

  let peak = 0
  let pressed = 0
  const sampler = setInterval(() => {
    peak = Math.max(peak, budget.held)
    if (budget.pressed()) pressed++
  }, 2)
  t.teardown(() => clearInterval(sampler))

  const t0 = Date.now()
  await Promise.all(Array.from({ length: MESSAGES }, async (_, i) => {
    await alice.client.publishAsync(`im/send/${conv}`, JSON.stringify({ cid: `m${i}`, kind: 'text', body: { text: `${i}:${TEXT}` } }), { qos: 1 })
  }))
  const ackedMs = Date.now() - t0
  /** The test's messages a reader got, by their index (the group's creation has a seq too). */
  const got = (reader: RawDevice): number[] => reader.messages(conv)
    .filter((m) => typeof m.body?.text === 'string' && /^\d+:/.test(m.body.text))
    .map((m) => Number((m.body.text as string).split(':')[0]))
  for (const reader of readers) {
    await waitFor(() => got(reader).length >= MESSAGES, `${reader.user}'s ${MESSAGES} messages`, 60_000)
  }
  await waitFor(() => budget.held === 0, 'every delivery acknowledged', 10_000)
  clearInterval(sampler)

  t.ok(budget.peak <= BOUND, `the most held at once (${budget.peak} bytes) is within the bound (${BOUND})`)
  t.ok(peak <= BOUND, `and so is every sample (${peak})`)
  t.ok(budget.spilled > 0 || pressed > 0, `the bound was reached: ${budget.spilled} copies went to the durable queue, senders held in ${pressed} samples (acks took ${ackedMs} ms)`)
  for (const reader of readers) {
    await new Promise((resolve) => setTimeout(resolve, 200)) // late duplicates
    t.same(got(reader), Array.from({ length: MESSAGES }, (_, i) => i), `${reader.user}: every message once, in order`)
  }
})
