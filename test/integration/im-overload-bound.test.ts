import t from 'tap'
import { imServer, RawDevice } from '../helpers/im-server.js'
import { waitFor } from '../helpers/wait-for.js'

// Backpressure under overload (issue 12, fanout.ts enter()): sends being
// handled plus messages not yet fanned out stay under im.maxFanoutBacklog
// however many are offered at once; the sends past it wait unparsed, and
// aedes reads no more of their senders meanwhile. With real mqtt.js clients
// that publish far more at once than the bound, the bound must hold and every
// acknowledged message reach every online device of the conversation once,
// in order (the recipient and the sender's own echo).

const BOUND = 20
const USERS = ['ann', 'ben', 'cat', 'dan', 'eve', 'fay']
const PER_SENDER = 150

t.test('past im.maxFanoutBacklog sends wait unparsed; the bound holds and every acknowledged message reaches every online device once, in order', async (t) => {
  const { server, port } = await imServer(t, USERS, { im: { maxFanoutBacklog: BOUND } })
  const devices = await Promise.all(USERS.map(async (user) => await RawDevice.connect(t, port, user, 'phone')))
  // each user writes to the next one: 6 direct conversations, every device a sender and a reader
  const convOf = (i: number): string => `d:${[USERS[i]!, USERS[(i + 1) % USERS.length]!].sort().join(':')}`
  const fanout = server.im.fanout
  let waited = 0
  const sampler = setInterval(() => { waited = Math.max(waited, fanout.waiting) }, 1)
  t.teardown(() => clearInterval(sampler))

  // every message published at once, none awaited before the next: far past the bound
  let acked = 0
  await Promise.all(devices.flatMap((device, i) => Array.from({ length: PER_SENDER }, async (_, n) => {
    await device.client.publishAsync(`im/send/${convOf(i)}`, JSON.stringify({ cid: `m${n}`, kind: 'text', body: { text: `${i}:${n}` } }), { qos: 1 })
    acked++
  })))
  t.equal(acked, USERS.length * PER_SENDER, 'every send acknowledged')

  /** The test's messages `device` got in `conv`, as sender index:message index, in arrival order. */
  const got = (device: RawDevice, conv: string): string[] => device.messages(conv).map((m) => m.body?.text as string)
  const expected = (i: number): string[] => Array.from({ length: PER_SENDER }, (_, n) => `${i}:${n}`)
  for (const [i] of devices.entries()) {
    const conv = convOf(i)
    for (const device of [devices[i]!, devices[(i + 1) % USERS.length]!]) {
      await waitFor(() => got(device, conv).length >= PER_SENDER, `${device.user}'s ${PER_SENDER} messages of ${conv}`, 60_000)
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 300)) // late duplicates
  clearInterval(sampler)
  for (const [i] of devices.entries()) {
    const conv = convOf(i)
    for (const device of [devices[i]!, devices[(i + 1) % USERS.length]!]) {
      t.same(got(device, conv), expected(i), `${device.user} got ${conv}'s messages once, in order`)
      const seqs = device.messages(conv).map((m) => m.seq as number)
      t.ok(seqs.every((s, k) => k === 0 || s === seqs[k - 1]! + 1), `${device.user}: ${conv}'s seqs gapless and increasing`)
    }
  }
  t.ok(waited > 0, `the bound was reached: up to ${waited} sends waited at once`)
  t.ok(fanout.peak <= BOUND, `sends in flight plus messages not fanned out never passed the bound (peak ${fanout.peak}, bound ${BOUND})`)
  t.equal(fanout.forced, 0, 'no send was let through past the bound')
  t.equal(fanout.inFlight + fanout.backlog + fanout.waiting, 0, 'nothing left in flight')
})
