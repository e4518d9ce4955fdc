import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { Level } from 'level'
import { imServer, RawDevice } from '../helpers/im-server.js'
import { RedisServer } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait-for.js'

// Recall (docs/protocol.md, "Recall"): the recalled message becomes a
// tombstone in the log, its edits are erased, edits and reactions to it are
// refused, and a file only it shared leaves the file store. Run on the
// embedded store and on Redis, reading the stores' own keys at the end.

const SECRET = 'the launch code is 0000'

/** A resend of a cid already answered (RawDevice.send() returns the first answer to a cid). */
async function resend (device: RawDevice, conv: string, body: unknown, cid: string, kind = 'text'): Promise<any> {
  const seen = device.events.length
  const answer = (): any => device.events.slice(seen).find((e) => (e.event?.type === 'sent' && e.event.cid === cid) || (e.event?.type === 'error' && e.event.ref === cid))?.event
  await device.client.publishAsync(`im/send/${conv}`, JSON.stringify({ cid, kind, body }), { qos: 1 })
  await waitFor(() => answer() !== undefined, `the answer to the resend of ${cid}`)
  return answer()
}
const EDITED = 'the launch code is 1234'

interface Backend {
  name: string
  /** Server options, and after close() every stored value of the message log, as text. */
  start: (t: Test) => Promise<{ options: object, logValues: (dataDir: string) => Promise<string[]> }>
}

const embedded: Backend = {
  name: 'the embedded store',
  start: async () => ({
    options: {},
    logValues: async (dataDir) => {
      const db = new Level<string, string>(dataDir, { valueEncoding: 'utf8' })
      await db.open()
      try {
        const values: string[] = []
        for await (const [key, value] of db.iterator()) if (key.startsWith('!im-log!')) values.push(value)
        return values
      } finally {
        await db.close()
      }
    }
  })
}

const redis: Backend = {
  name: 'Redis',
  start: async (t) => {
    const server = await RedisServer.start()
    t.teardown(() => server.stop())
    return {
      options: { redis: server.url },
      logValues: async () => {
        const client = new Redis(server.url)
        try {
          const values: string[] = []
          for (const key of await client.keys('hail:log:*')) {
            if ((await client.type(key)) === 'hash') values.push(...Object.values(await client.hgetall(key)))
          }
          return values
        } finally {
          client.disconnect()
        }
      }
    }
  }
}

for (const backend of [embedded, redis]) {
  t.test(`on ${backend.name}`, async (t) => {
    t.test('a recalled message is a tombstone for every device: body and edits gone from the log, edits and reactions refused', async (t) => {
      const { options, logValues } = await backend.start(t)
      const { server, port, dir } = await imServer(t, ['alice', 'bob'], options)
      const alice = await RawDevice.connect(t, port, 'alice', 'phone')
      const bob = await RawDevice.connect(t, port, 'bob', 'phone')
      const { conv } = await alice.request('direct.open', { user: 'bob' })

      t.equal((await alice.send(conv, { text: SECRET })).seq, 1)
      t.equal((await alice.send(conv, { ref: 1, text: EDITED }, 'e1', 'edit')).seq, 2)
      t.equal((await bob.send(conv, { ref: 1, emoji: '👀' }, 'r1', 'reaction')).seq, 3)
      t.equal((await alice.send(conv, { text: 'this one stays' })).seq, 4)
      const before = (await alice.request('sync', { conv, after: 0 })).messages[0]
      const recalled = await alice.send(conv, { ref: 1 }, 'del1', 'delete')
      t.match(recalled, { type: 'sent', seq: 5 }, 'the recall is stored')
      await waitFor(() => bob.messages(conv).some((m) => m.seq === 5), 'bob gets the recall live')
      t.match(bob.messages(conv).find((m) => m.seq === 5), { kind: 'delete', from: 'alice', body: { ref: 1 } }, 'the live event is the delete message, as before')

      const tablet = await RawDevice.connect(t, port, 'bob', 'tablet')
      const synced = await tablet.request('sync', { conv, after: 0 })
      t.same(synced.messages.map((m: any) => m.seq), [1, 2, 3, 4, 5], 'a new device syncs every seq')
      t.same(synced.messages[0], {
        id: `${conv}/1`,
        conv,
        seq: 1,
        from: 'alice',
        device: 'phone',
        cid: before.cid,
        ts: before.ts,
        kind: 'text',
        body: null,
        deleted: { by: 'alice', seq: 5 }
      }, 'the recalled message is a tombstone: kind, author, seq and time kept, no body')
      t.same(synced.messages[1].body, { ref: 1 }, 'its edit keeps only what it pointed at')
      t.same(synced.messages[1].deleted, { by: 'alice', seq: 5 })
      t.same(synced.messages[2].body, { ref: 1, emoji: '👀' }, 'a reaction stays')
      t.same(synced.messages[3].body, { text: 'this one stays' })
      t.notOk(JSON.stringify(synced).includes('launch code'), 'sync returns nothing of the text or the edit')
      const again = await bob.request('sync', { conv, after: 0 })
      t.same(again.messages[0].body, null, 'the other member\'s devices sync the tombstone too')

      const edit = await alice.send(conv, { ref: 1, text: 'one more try' }, 'e2', 'edit')
      t.match(edit, { type: 'error', ref: 'e2', error: { code: 'HAIL_ERR_GONE' } }, 'an edit of the recalled message is refused')
      const react = await bob.send(conv, { ref: 1, emoji: '👍' }, 'r2', 'reaction')
      t.match(react, { type: 'error', ref: 'r2', error: { code: 'HAIL_ERR_GONE' } }, 'so is a reaction')
      const editOfEdit = await alice.send(conv, { ref: 2, text: 'sneaky' }, 'e3', 'edit')
      t.match(editOfEdit, { error: { code: 'HAIL_ERR_GONE' } }, 'and an edit of its erased edit')
      t.equal((await alice.request('sync', { conv, after: 0 })).lastSeq, 5, 'nothing of them was stored')

      const twice = await bob.send(conv, { ref: 1 }, 'del2', 'delete')
      t.match(twice, { type: 'error', error: { code: 'HAIL_ERR_FORBIDDEN' } }, 'only the author (or a group admin) recalls, tombstone or not')
      const secondRecall = await alice.send(conv, { ref: 1 }, 'del3', 'delete')
      t.match(secondRecall, { type: 'sent', seq: 6 }, 'recalling again is accepted')
      const resent = await resend(alice, conv, { ref: 1 }, 'del1', 'delete')
      t.match(resent, { type: 'sent', seq: 5, duplicate: true }, 'a resend of the recall is a duplicate')
      const after = await tablet.request('sync', { conv, after: 0 })
      t.same(after.messages[0].deleted, { by: 'alice', seq: 5 }, 'and the tombstone still names the first recall')
      const resendOriginal = await resend(alice, conv, { text: SECRET }, before.cid)
      t.match(resendOriginal, { type: 'sent', seq: 1, duplicate: true }, 'a resend of the recalled message stores nothing again')

      // receipts and counters go by seq, tombstones included
      t.same(await bob.request('read', { conv, seq: 6 }), { conv, read: 6 })
      const { conversations } = await tablet.request('conversations')
      t.match(conversations.find((c: any) => c.conv === conv), { lastSeq: 6, read: 6, delivered: 6 }, 'bob\'s read and delivered reach the recall')
      await waitFor(() => alice.of('receipt').some((r) => r.user === 'bob' && r.read === 6), 'alice gets bob\'s read receipt')
      const { members } = await alice.request('conv.members', { conv })
      t.match(members.find((m: any) => m.user === 'bob'), { read: 6, delivered: 6 })

      await alice.end()
      await bob.end()
      await tablet.end()
      await server.close()
      const values = await logValues(join(dir, 'data'))
      t.ok(values.length >= 6, `the log's keys were read (${values.length} values)`)
      t.ok(values.some((v) => v.includes('this one stays')), 'the raw values hold the other messages')
      t.notOk(values.some((v) => v.includes('launch code')), 'no raw value of the log holds the recalled text or its edit')
    })

    t.test('a recall stored but not yet applied (a crash before its PUBACK) is completed by the device\'s resend', async (t) => {
      const { options } = await backend.start(t)
      const { server, port } = await imServer(t, ['alice', 'bob'], options)
      const alice = await RawDevice.connect(t, port, 'alice', 'phone')
      const { conv } = await alice.request('direct.open', { user: 'bob' })
      await alice.send(conv, { text: SECRET })
      // what the server had stored when it died: the delete, without its tombstone
      await server.backend.imStores.log.append(conv, { from: 'alice', device: 'phone', cid: 'del-crash', kind: 'delete', body: { ref: 1 } })
      t.same((await alice.request('sync', { conv, after: 0 })).messages[0].body, { text: SECRET }, 'the message is still whole')
      const again = await resend(alice, conv, { ref: 1 }, 'del-crash', 'delete')
      t.match(again, { type: 'sent', seq: 2, duplicate: true }, 'the device resends the unacknowledged recall: a duplicate')
      t.match((await alice.request('sync', { conv, after: 0 })).messages[0], { body: null, deleted: { by: 'alice', seq: 2 } }, 'and the tombstone is made')
    })

    t.test('an edit racing a recall never leaves its text in the log', async (t) => {
      const { options } = await backend.start(t)
      const { port } = await imServer(t, ['alice', 'bob'], options)
      const alice = await RawDevice.connect(t, port, 'alice', 'phone')
      const { conv } = await alice.request('direct.open', { user: 'bob' })
      const rounds = 30
      for (let i = 0; i < rounds; i++) {
        const { seq } = await alice.send(conv, { text: `original ${i}` })
        // back to back, not waiting for answers: the edit's check may pass before the recall lands
        void alice.client.publishAsync(`im/send/${conv}`, JSON.stringify({ cid: `del-${i}`, kind: 'delete', body: { ref: seq } }), { qos: 1 })
        void alice.client.publishAsync(`im/send/${conv}`, JSON.stringify({ cid: `edit-${i}`, kind: 'edit', body: { ref: seq, text: `racing edit ${i}` } }), { qos: 1 })
      }
      const answered = (cid: string): any => alice.events.find((e) => (e.event?.type === 'sent' || e.event?.type === 'error') && (e.event.cid ?? e.event.ref) === cid)?.event
      await waitFor(() => Array.from({ length: rounds }, (_, i) => [`del-${i}`, `edit-${i}`]).flat().every((cid) => answered(cid) !== undefined), 'every recall and edit answered')
      const edits = Array.from({ length: rounds }, (_, i) => answered(`edit-${i}`))
      t.ok(edits.every((e) => e.type === 'sent' || e.error.code === 'HAIL_ERR_GONE'), 'each edit is stored or refused as gone')
      const all: any[] = []
      for (let after = 0; ;) {
        const page = await alice.request('sync', { conv, after })
        all.push(...page.messages)
        if (!page.more) break
        after = page.messages.at(-1).seq
      }
      t.notOk(JSON.stringify(all).includes('racing edit'), 'no edit text is left in the log')
      t.notOk(JSON.stringify(all).includes('original'), 'nor any recalled text')
      const erasedLate = all.filter((m) => m.kind === 'edit' && edits.some((e) => e.type === 'error' && e.ref === m.cid)).length
      t.comment(`${edits.filter((e) => e.type === 'sent').length} edits landed before their recall, ${erasedLate} after it (stored, then erased)`)
    })

    t.test('recalling a file message removes a file only it shared; a file another message shares stays', async (t) => {
      const { options } = await backend.start(t)
      const { server, port, httpPort, dir } = await imServer(t, ['alice', 'bob', 'carol'], options)
      const base = `http://127.0.0.1:${httpPort}`
      const token = async (user: string): Promise<string> => (await server.tokens.issue(user, 600)).token
      const [aliceToken, bobToken] = [await token('alice'), await token('bob')]
      const upload = async (name: string): Promise<any> => {
        const res = await fetch(`${base}/files`, { method: 'POST', body: randomBytes(64 * 1024), headers: { authorization: `Bearer ${aliceToken}`, 'x-file-name': name } })
        t.equal(res.status, 201)
        return await res.json()
      }
      const download = async (fileId: string, bearer: string): Promise<number> => {
        const res = await fetch(`${base}/files/${fileId}`, { headers: { authorization: `Bearer ${bearer}` } })
        await res.arrayBuffer()
        return res.status
      }
      const blobPath = (sha256: string): string => join(dir, 'data', 'files', sha256.slice(0, 2), sha256.slice(2))
      const exists = async (path: string): Promise<boolean> => await access(path).then(() => true, () => false)

      const alice = await RawDevice.connect(t, port, 'alice', 'phone')
      const { conv } = await alice.request('direct.open', { user: 'bob' })
      const { conv: group } = await alice.request('group.create', { name: 'team', members: ['carol'] })
      const only = await upload('only.bin')
      const shared = await upload('shared.bin')
      const fileBody = (f: any): object => ({ fileId: f.fileId, name: f.name, size: f.size, type: f.type })
      const onlyMsg = await alice.send(conv, fileBody(only), 'f1', 'file')
      const sharedMsg = await alice.send(conv, fileBody(shared), 'f2', 'file')
      await alice.send(group, fileBody(shared), 'f3', 'file')
      t.equal(await download(only.fileId, bobToken), 200, 'bob downloads the file shared with him')
      const usedBefore = await server.files.index.used('alice')

      t.match(await alice.send(conv, { ref: onlyMsg.seq }, 'd1', 'delete'), { type: 'sent' })
      t.equal(await download(only.fileId, bobToken), 404, 'the file only the recalled message shared is gone for the recipient')
      t.equal(await download(only.fileId, aliceToken), 404, 'and for its owner')
      t.notOk(await exists(blobPath(only.sha256)), 'its bytes are removed from the data directory')
      t.equal(await server.files.index.used('alice'), usedBefore - only.size, 'it no longer counts toward the owner\'s quota')
      const sent = await alice.send(conv, fileBody(only), 'f4', 'file')
      t.match(sent, { type: 'error', error: { code: 'HAIL_ERR_NOT_FOUND' } }, 'it cannot be sent again')

      t.match(await alice.send(conv, { ref: sharedMsg.seq }, 'd2', 'delete'), { type: 'sent' })
      t.equal(await download(shared.fileId, aliceToken), 200, 'a file another message shares stays')
      t.ok(await exists(blobPath(shared.sha256)), 'with its bytes')
      t.equal(await download(shared.fileId, bobToken), 403, 'but bob, who had it only from the recalled message, may no longer download it')
      const { messages } = await alice.request('sync', { conv, after: 0 })
      t.notOk(JSON.stringify(messages).includes('only.bin') || JSON.stringify(messages).includes('shared.bin'), 'the tombstones do not name the files')
    })
  })
}
