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
  t.equal(fanout.room(), undefined, 'room at once while under the bound')
  for (const [i, c] of convs.slice(0, 4).entries()) fanout.message(envelope(c, i + 1))
  t.equal(fanout.backlog, 4)
  let roomy = false
  const room = fanout.room()
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
