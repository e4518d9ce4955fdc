import t from 'tap'
import pino from 'pino'
import { Fanout } from '../../../broker/im/fanout.js'
import { Membership } from '../../../broker/im/membership.js'
import { messageOf } from '../../../broker/im/message-payloads.js'
import type { Publisher } from '../../../broker/im/publisher.js'
import type { Envelope } from '../../../protocol/index.js'

const conv = 'd:alice:bob'
const envelope = (c: string, seq: number): Envelope => ({ id: `${c}/${seq}`, conv: c, seq, from: 'alice', device: 'phone', cid: `c${seq}`, ts: 1, kind: 'text', body: { text: 'hi' } })

/** A publisher whose sends wait until the test lets them go. */
function heldPublisher (): { publisher: Publisher, sent: Array<{ topic: string, payload: Buffer }>, release: () => void } {
  const sent: Array<{ topic: string, payload: Buffer }> = []
  let waiting: Array<() => void> = []
  const publisher = {
    send: async (topic: string, payload: Buffer) => {
      sent.push({ topic, payload })
      await new Promise<void>((resolve) => waiting.push(resolve))
    }
  } as unknown as Publisher
  return { publisher, sent, release: () => { const w = waiting; waiting = []; for (const r of w) r() } }
}

const turns = async (n = 5): Promise<void> => { for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve)) }

t.test('past its bound the backlog makes senders wait, until it falls to three quarters', async (t) => {
  const membership = new Membership()
  const convs = ['d:alice:bob', 'd:alice:carol', 'd:alice:dave', 'd:alice:erin', 'd:alice:fred']
  for (const c of convs) for (const u of c.split(':').slice(1)) membership.set(c, u, 'member')
  const { publisher, release } = heldPublisher()
  const fanout = new Fanout(publisher, membership, pino({ level: 'silent' }), undefined, 4)
  t.equal(fanout.room(convs[4]!), undefined, 'room at once while under the bound')
  for (const [i, c] of convs.slice(0, 4).entries()) fanout.message(envelope(c, i + 1))
  t.equal(fanout.backlog, 4)
  let roomy = false
  const room = fanout.room(convs[4]!)
  t.ok(room instanceof Promise, 'at the bound a sender waits')
  void room?.then(() => { roomy = true })
  await turns()
  t.notOk(roomy, 'still waiting while nothing was delivered')
  release()
  await turns()
  t.ok(roomy, 'released once the backlog fell')
  t.equal(fanout.backlog, 0)
  await fanout.settle()
})

t.test('a conversation past its own bound slows its senders only', async (t) => {
  const membership = new Membership()
  for (const c of [conv, 'd:carol:dave']) for (const u of c.split(':').slice(1)) membership.set(c, u, 'member')
  // the publisher holds what goes to bob (a reader who does not keep up), not carol's or dave's
  const held: Array<() => void> = []
  const publisher = {
    send: async (topic: string) => { if (topic.includes('/bob/')) await new Promise<void>((resolve) => held.push(resolve)) }
  } as unknown as Publisher
  const fanout = new Fanout(publisher, membership, pino({ level: 'silent' }), undefined, 100, 4)
  for (let seq = 1; seq <= 4; seq++) fanout.message(envelope(conv, seq))
  fanout.message(envelope('d:carol:dave', 1))
  await turns()
  t.equal(fanout.room('d:carol:dave'), undefined, 'another conversation sends on')
  let roomy = false
  void fanout.room(conv)?.then(() => { roomy = true })
  await turns()
  t.notOk(roomy, 'the stuck conversation\'s sender waits')
  for (let i = 0; i < 2; i++) {
    held.shift()?.()
    await turns()
  }
  t.ok(roomy, 'and goes on once its backlog fell to three quarters')
  while (held.length > 0 || fanout.backlog > 0) { held.shift()?.(); await turns() }
  await fanout.settle()
})

t.test('a message payload is encoded once for all its recipients and carries its record', async (t) => {
  const membership = new Membership()
  for (const u of ['alice', 'bob']) membership.set(conv, u, 'member')
  const { publisher, sent, release } = heldPublisher()
  const fanout = new Fanout(publisher, membership, pino({ level: 'silent' }))
  fanout.message(envelope(conv, 7))
  await turns()
  t.same(sent.map((s) => s.topic).sort(), [`im/inbox/alice/${conv}`, `im/inbox/bob/${conv}`])
  t.equal(sent[0]!.payload, sent[1]!.payload, 'the same Buffer')
  t.same(messageOf(sent[0]!.payload), { conv, seq: 7, from: 'alice' })
  t.equal(messageOf(Buffer.from(sent[0]!.payload)), undefined, 'a copy (read back from a store) is not known')
  release()
  await fanout.settle()
})

t.test('enter(): sends in flight plus messages not fanned out stay under the bound; past it sends wait, admitted in arrival order', async (t) => {
  const membership = new Membership()
  for (const u of ['alice', 'bob']) membership.set(conv, u, 'member')
  const { publisher, release } = heldPublisher()
  const fanout = new Fanout(publisher, membership, pino({ level: 'silent' }), undefined, 3)
  const first = fanout.enter()
  t.equal(first.admitted, undefined, 'the first send goes on at once')
  first.done(true) // handed over with its message
  fanout.message(envelope(conv, 1))
  first.done() // again changes nothing
  t.equal(fanout.inFlight, 0, 'its stored message counts in the backlog instead')
  const second = fanout.enter()
  const third = fanout.enter()
  t.equal(second.admitted, undefined, 'a second: 1 in flight + 1 not fanned out')
  t.equal(third.admitted, undefined, 'a third reaches the bound')
  const order: number[] = []
  const later = [4, 5, 6].map((n) => fanout.enter())
  for (const [i, e] of later.entries()) void e.admitted?.then(() => { order.push(i + 4) })
  t.ok(later.every((e) => e.admitted instanceof Promise), 'past the bound sends wait')
  t.equal(fanout.waiting, 3)
  await turns()
  t.same(order, [], 'and stay waiting while nothing moved')
  second.done() // refused: nothing stored
  await turns()
  t.same(order, [4], 'one answered send lets one waiting send in')
  release() // the first message's fan-out finishes
  await turns()
  t.same(order, [4, 5], 'so does a finished fan-out, in arrival order')
  t.equal(fanout.peak, 3, 'the bound was never passed')
  third.done()
  await turns()
  t.same(order, [4, 5, 6])
  for (const e of later) e.done()
  t.equal(fanout.inFlight, 0)
  t.equal(fanout.waiting, 0)
  t.equal(fanout.forced, 0)
  await fanout.settle()
})

t.test('enter(): when neither a send nor a fan-out finishes for 2 s, waiting sends go on anyway (a stuck delivery slows senders, never stops them)', async (t) => {
  const membership = new Membership()
  for (const u of ['alice', 'bob']) membership.set(conv, u, 'member')
  const { publisher, release } = heldPublisher()
  const fanout = new Fanout(publisher, membership, pino({ level: 'silent' }), undefined, 1)
  const first = fanout.enter()
  t.equal(first.admitted, undefined)
  first.done(true)
  fanout.message(envelope(conv, 1)) // never delivered until release()
  const t0 = Date.now()
  const alive = setInterval(() => {}, 100) // the look's timer is unref()ed; a server's sockets keep it running
  const second = fanout.enter()
  t.ok(second.admitted instanceof Promise, 'waits behind the stuck fan-out')
  await second.admitted
  clearInterval(alive)
  const waited = Date.now() - t0
  t.ok(waited >= 1500 && waited < 5000, `let through after about 2 s (${waited} ms)`)
  t.equal(fanout.forced, 1)
  second.done()
  release()
  await fanout.settle()
})
