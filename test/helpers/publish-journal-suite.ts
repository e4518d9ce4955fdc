import type { Test } from 'tap'
import type { JournalEntry } from '../../broker/persistence/journal.js'
import type { PublishJournal } from '../../broker/persistence/publish-journal.js'

/**
 * The conformance suite every PublishJournal runs (level and Redis).
 * `open` gives the journal of one store; calling it again gives a new
 * instance on the same store, as a restart does. `close` ends that instance.
 */
export interface JournalFixture {
  open: () => Promise<PublishJournal>
  close: (journal: PublishJournal) => Promise<void>
}

function publish (topic: string, payload: Buffer | string, extra: object = {}) {
  return { cmd: 'publish' as const, topic, payload, qos: 1 as const, retain: false, dup: false, messageId: 7, ...extra }
}

async function pending (journal: PublishJournal): Promise<JournalEntry[]> {
  const entries: JournalEntry[] = []
  for await (const entry of journal.pending()) entries.push(entry)
  return entries
}

export function publishJournalSuite (t: Test, name: string, fresh: () => Promise<JournalFixture>): void {
  t.test(`${name}: entries stay pending in append order until completed, across a restart`, async (t) => {
    const store = await fresh()
    let journal = await store.open()
    const keys = await Promise.all(['m1', 'm2', 'm3', 'm4', 'm5'].map(m => journal.append(publish(`t/${m}`, m))))
    t.same([...keys].sort(), keys, 'keys follow the order of append() calls')
    t.equal(new Set(keys).size, 5, 'keys are distinct')
    await journal.complete(keys[1])
    await journal.complete(keys[3])
    await journal.flush()
    await store.close(journal)
    journal = await store.open()
    const left = await pending(journal)
    t.same(left.map(e => e.key), [keys[0], keys[2], keys[4]])
    t.same(left.map(e => String(e.packet.payload)), ['m1', 'm3', 'm5'])
    await store.close(journal)
  })

  t.test(`${name}: keys keep growing after a restart with every entry completed`, async (t) => {
    const store = await fresh()
    let journal = await store.open()
    const first = await journal.append(publish('t', 'a'))
    await journal.complete(first)
    await journal.flush()
    await store.close(journal)
    journal = await store.open()
    const second = await journal.append(publish('t', 'b'))
    t.ok(second > first, `${second} sorts after ${first}`)
    t.same((await pending(journal)).map(e => e.key), [second])
    await store.close(journal)
  })

  t.test(`${name}: a pending entry gives back the publish: topic, binary payload, qos, retain, messageId`, async (t) => {
    const store = await fresh()
    const journal = await store.open()
    const payload = Buffer.from([0, 255, 1, 254])
    await journal.append(publish('a/b', payload, { qos: 2, retain: true, messageId: 42, brokerId: 'x', length: 99 }))
    const [entry] = await pending(journal)
    t.equal(entry.packet.topic, 'a/b')
    t.ok(Buffer.isBuffer(entry.packet.payload))
    t.same([...entry.packet.payload], [...payload])
    t.equal(entry.packet.qos, 2)
    t.equal(entry.packet.retain, true)
    t.equal(entry.packet.messageId, 42)
    t.equal((entry.packet as { brokerId?: string }).brokerId, undefined, 'aedes bookkeeping is not kept')
    await store.close(journal)
  })
}
