import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Aedes, type AedesPublishPacket } from 'aedes'
// @ts-expect-error aedes-persistence ships no types for its in-memory store
import MemoryPersistence from 'aedes-persistence/asyncPersistence.js'
import { Level } from 'level'
import pino from 'pino'
import { DurablePublish } from '../../broker/mqtt/durable-publish.js'
import { Journal, type JournalEntry } from '../../broker/persistence/journal.js'
import { waitFor } from '../helpers/wait-for.js'

const root = await mkdtemp(join(tmpdir(), 'hail-durable-publish-'))
t.teardown(() => rm(root, { recursive: true, force: true }))
let dirs = 0

/** aedes' in-memory store, whose retained writes fail while `failing` is set (a store outage). */
class FlakyPersistence extends (MemoryPersistence as new () => { storeRetained (packet: unknown): Promise<void> }) {
  failing = false
  override async storeRetained (packet: unknown): Promise<void> {
    if (this.failing) throw new Error('store down')
    await super.storeRetained(packet)
  }
}

async function fixture (t: Test): Promise<{ aedes: Aedes, journal: Journal, durable: DurablePublish, persistence: FlakyPersistence, received: string[] }> {
  const db = new Level<string, Buffer>(join(root, String(dirs++)), { valueEncoding: 'buffer' })
  await db.open()
  const journal = new Journal(db.sublevel('journal'))
  const durable = new DurablePublish(journal, pino({ level: 'silent' }))
  const persistence = new FlakyPersistence()
  const aedes = new Aedes({ persistence: persistence as never })
  await aedes.listen()
  const received: string[] = []
  await new Promise<void>((resolve) => aedes.subscribe('adopted/#', (packet: AedesPublishPacket, done: () => void) => {
    received.push(String(packet.payload))
    done()
  }, resolve))
  t.teardown(async () => {
    durable.stopRetrying()
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    await journal.flush()
    await db.close()
  })
  return { aedes, journal, durable, persistence, received }
}

/** Entries as RedisJournal.adopt() hands them over: already in this node's journal. */
async function adopted (journal: Journal, payloads: string[]): Promise<JournalEntry[]> {
  for (const p of payloads) await journal.append({ cmd: 'publish', topic: 'adopted/t', payload: p, qos: 1, retain: true })
  const entries: JournalEntry[] = []
  for await (const entry of journal.pending()) entries.push(entry)
  return entries
}

async function left (journal: Journal): Promise<string[]> {
  const payloads: string[] = []
  for await (const entry of journal.pending()) payloads.push(String(entry.packet.payload))
  return payloads
}

t.test('publishAdopted() publishes every adopted entry through aedes and completes it', async (t) => {
  const { aedes, journal, durable, received } = await fixture(t)
  const entries = await adopted(journal, ['a', 'b', 'c'])
  t.equal(await durable.publishAdopted(aedes, entries), 3)
  t.same(received, ['a', 'b', 'c'], 'in journal order')
  await journal.flush()
  t.same(await left(journal), [], 'nothing left in the journal')
  t.equal(durable.pending, 0)
})

t.test('an adopted entry aedes cannot store stays in the journal and is published again by the retry timer', async (t) => {
  const { aedes, journal, durable, persistence, received } = await fixture(t)
  const entries = await adopted(journal, ['x'])
  persistence.failing = true
  t.equal(await durable.publishAdopted(aedes, entries), 0, 'not published now')
  t.same(await left(journal), ['x'], 'still journaled')
  t.equal(durable.pending, 1, 'still in flight')
  persistence.failing = false
  durable.startRetrying(aedes, 50)
  await waitFor(() => durable.pending === 0, 'the retry to publish it', 30_000)
  t.ok(received.includes('x'), 'published once the store works again')
  await journal.flush()
  t.same(await left(journal), [], 'and completed')
})
