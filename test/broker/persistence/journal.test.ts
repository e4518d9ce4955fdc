import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Level } from 'level'
import { GroupCommit } from '../../../broker/storage/index.js'
import { Journal, type JournalEntry } from '../../../broker/persistence/journal.js'

const root = await mkdtemp(join(tmpdir(), 'hail-journal-'))
t.teardown(() => rm(root, { recursive: true, force: true }))
let dirs = 0

/** The journal as the server builds it: a sublevel, synced through the root's group commit. */
async function openJournal (dir: string) {
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
  await db.open()
  const journal = new Journal(db.sublevel('journal'), new GroupCommit(db))
  return { db, journal }
}

function publish (topic: string, payload: Buffer | string, extra: object = {}) {
  return { cmd: 'publish' as const, topic, payload, qos: 1 as const, retain: false, dup: false, messageId: 7, ...extra }
}

async function pending (journal: Journal): Promise<JournalEntry[]> {
  const entries: JournalEntry[] = []
  for await (const entry of journal.pending()) entries.push(entry)
  return entries
}

t.test('entries stay pending in append order until completed, across a close and reopen', async (t) => {
  const dir = join(root, String(dirs++))
  let { db, journal } = await openJournal(dir)
  const keys = await Promise.all(['m1', 'm2', 'm3', 'm4', 'm5'].map(m => journal.append(publish(`t/${m}`, m))))
  t.same([...keys].sort(), keys, 'keys follow the order of append() calls')
  await journal.complete(keys[1])
  await journal.complete(keys[3])
  await db.close()

  ;({ db, journal } = await openJournal(dir))
  const left = await pending(journal)
  t.same(left.map(e => e.key), [keys[0], keys[2], keys[4]])
  t.same(left.map(e => e.packet.topic), ['t/m1', 't/m3', 't/m5'])
  for (const entry of left) await journal.complete(entry.key)
  t.same(await pending(journal), [], 'nothing left once completed')
  await db.close()
})

t.test('keys keep growing after a reopen, also when every entry was completed', async (t) => {
  const dir = join(root, String(dirs++))
  let { db, journal } = await openJournal(dir)
  const first = await journal.append(publish('a', 'x'))
  const second = await journal.append(publish('a', 'y'))
  await db.close()

  ;({ db, journal } = await openJournal(dir))
  const third = await journal.append(publish('a', 'z'))
  t.ok(third > second && second > first, `${first} < ${second} < ${third} with entries left`)
  for (const entry of await pending(journal)) await journal.complete(entry.key)
  await db.close()

  ;({ db, journal } = await openJournal(dir))
  t.same(await pending(journal), [], 'the journal is empty')
  const fourth = await journal.append(publish('a', 'w'))
  t.ok(fourth > third, `${fourth} > ${third} after an empty journal was reopened`)
  await db.close()
})

t.test('packets round-trip exactly: empty, binary and large payloads, flags and properties', async (t) => {
  const dir = join(root, String(dirs++))
  let { db, journal } = await openJournal(dir)
  const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
  const packets = [
    publish('empty', Buffer.alloc(0)),
    publish('bytes', everyByte, { qos: 2, retain: true, dup: true, messageId: 65535 }),
    publish('large', randomBytes(256 * 1024)),
    publish('text', 'héllo 日本', { messageId: 1 }),
    publish('props', Buffer.from('{}'), { properties: { correlationData: Buffer.from([0, 0xff, 1]), userProperties: { a: 'b' } } })
  ]
  for (const packet of packets) await journal.append(packet)
  await db.close()

  ;({ db, journal } = await openJournal(dir))
  const entries = await pending(journal)
  t.equal(entries.length, packets.length)
  for (const [i, { packet }] of entries.entries()) {
    const sent = packets[i]
    t.ok(Buffer.isBuffer(packet.payload), `${sent.topic}: the payload is a Buffer`)
    t.ok(packet.payload.equals(Buffer.from(sent.payload)), `${sent.topic}: payload bytes are equal`)
    t.same(
      { cmd: packet.cmd, topic: packet.topic, qos: packet.qos, retain: packet.retain, dup: packet.dup, messageId: packet.messageId },
      { cmd: sent.cmd, topic: sent.topic, qos: sent.qos, retain: sent.retain, dup: sent.dup, messageId: sent.messageId },
      `${sent.topic}: fields are equal`
    )
  }
  const props = entries[4].packet.properties as { correlationData: Buffer, userProperties: object }
  t.ok(Buffer.isBuffer(props.correlationData) && props.correlationData.equals(Buffer.from([0, 0xff, 1])), 'a Buffer in properties stays a Buffer')
  t.same(props.userProperties, { a: 'b' })
  t.notOk('length' in entries[0].packet, 'nothing beyond the publish fields is kept')
  await db.close()
})

t.test('concurrent appends share synced batches', async (t) => {
  const db = new Level<string, Buffer>(join(root, String(dirs++)), { valueEncoding: 'buffer' })
  const batches: number[] = []
  const journal = new Journal(db.sublevel('journal'), new GroupCommit(db, { onBatch: (count) => { batches.push(count) } }))
  await journal.open()
  await Promise.all(Array.from({ length: 50 }, (_, i) => journal.append(publish('t', String(i)))))
  t.ok(batches.length < 50, `${batches.length} batches for 50 appends`)
  t.equal((await pending(journal)).length, 50)
  await db.close()
})

t.test('a journal refuses a group commit on another database', async (t) => {
  const one = new Level(join(root, String(dirs++)))
  const other = new Level(join(root, String(dirs++)))
  t.throws(() => new Journal(one.sublevel('journal'), new GroupCommit(other)), { code: 'HAIL_ERR_STORE' })
  await Promise.all([one.close(), other.close()])
})

t.test('an entry is encoded as the packet codec encodes the journal fields, byte for byte', async (t) => {
  const { packetCodec } = await import('../../../broker/persistence/packet-codec.js')
  const { encodeJournalEntry, journalFields } = await import('../../../broker/persistence/journal.js')
  const packets = [
    publish('a/b', Buffer.from('x')),
    publish('ünï/"quoted"\\/\u2028', 'a string payload ✓'),
    publish('t', Buffer.alloc(0), { messageId: undefined, qos: 0 }),
    publish('t', randomBytes(70_000), { retain: true, dup: true, messageId: 65535, brokerId: 'b', brokerCounter: 9 }),
    publish('t', Buffer.from('p'), { properties: { correlationData: Buffer.from([1, 2, 3]), userProperties: { k: 'v' }, contentType: 'x/y' } }),
    { cmd: 'publish' as const, topic: 'bare' }
  ]
  for (const packet of packets) {
    const fused = encodeJournalEntry(packet)
    t.ok(fused.equals(packetCodec.encode(journalFields(packet))), `same bytes for ${packet.topic}`)
    const back = packetCodec.decode(fused)
    t.equal(back.topic, packet.topic)
    t.ok(Buffer.isBuffer(back.payload))
  }
})
