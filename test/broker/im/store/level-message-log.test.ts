import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { Level } from 'level'
import { GroupCommit, type GroupCommitOperation } from '../../../../broker/storage/index.js'
import { LevelMessageLog } from '../../../../broker/im/store/level-message-log.js'
import { messageLogSuite } from './message-log.abstract.js'
import { levelFactory } from './store-fixture.js'

messageLogSuite(t, levelFactory('im-log', (db, groupCommit) => new LevelMessageLog(db, groupCommit)))

t.test('with counters of one idle conversation kept in memory, the log stays right', async (t) => {
  // conversations are forgotten and read back from disk all the time
  messageLogSuite(t, levelFactory('im-log', (db, groupCommit) => new LevelMessageLog(db, groupCommit, { idleConvsKept: 1 })))
})

t.test('a recall with a long history after it lets appends in between its chunks, and erases an edit appended meanwhile', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-im-log-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
  const log = new LevelMessageLog(db.sublevel<string, string>('im-log', { keyEncoding: 'utf8', valueEncoding: 'utf8' }), new GroupCommit(db))
  t.teardown(async () => { await log.close(); await db.close() })
  const G = 'g:aaaaaaaaaaaa'
  const draft = (cid: string, kind = 'text', body: unknown = { text: cid }) => ({ from: 'alice', device: 'phone', cid, kind, body })
  await log.append(G, draft('target', 'text', { text: 'secret' }))
  await Promise.all(Array.from({ length: 3500 }, async (_, i) => await log.append(G, draft(`m${i}`))))
  let recalled = false
  const recall = log.recall(G, 1, { by: 'alice', seq: 9999 }).then((tombstone) => { recalled = true; return tombstone })
  // queued behind the recall's first chunk: stored while the recall still reads
  const late = await log.append(G, draft('late-edit', 'edit', { ref: 1, text: 'secret, edited late' }))
  t.notOk(recalled, 'an append queued after the recall was stored before the recall finished')
  t.same((await recall)?.deleted, { by: 'alice', seq: 9999 })
  t.same((await log.get(G, late.envelope.seq))?.body, { ref: 1 }, 'the edit appended meanwhile is erased by the same recall')
  t.equal((await log.read(G, { after: 0, limit: 1 })).messages[0]!.body, null)
})

t.test('appends to one busy conversation share synced batches', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-im-log-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
  const batches: number[] = []
  const log = new LevelMessageLog(db.sublevel('im-log'), new GroupCommit(db, { onBatch: (count) => { batches.push(count) } }))
  const appends = []
  for (let i = 0; i < 200; i++) {
    // arriving over several turns of the event loop, as publishes from many sockets do
    if (i % 10 === 0) await nextTurn()
    appends.push(log.append('g:aaaaaaaaaaaa', { from: 'a', device: 'd', cid: `c${i}`, kind: 'text', body: i }))
  }
  const seqs = (await Promise.all(appends)).map(r => r.envelope.seq)
  t.same(seqs, Array.from({ length: 200 }, (_, i) => i + 1), 'seqs in call order')
  t.ok(batches.length < 200, `${batches.length} synced batches for 200 appends`)
  await log.close()
  await db.close()
})

t.test('a log refuses a group commit on another database', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-im-log-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const one = new Level(join(dir, 'one'))
  const other = new Level(join(dir, 'other'))
  t.throws(() => new LevelMessageLog(one.sublevel('im-log'), new GroupCommit(other)), { code: 'HAIL_ERR_STORE' })
  await Promise.all([one.close(), other.close()])
})

t.test('a closed log refuses appends', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-im-log-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
  const log = new LevelMessageLog(db.sublevel('im-log'), new GroupCommit(db))
  const pending = log.append('g:aaaaaaaaaaaa', { from: 'a', device: 'd', cid: 'c1', kind: 'text', body: 1 })
  await log.close()
  t.equal((await pending).envelope.seq, 1, 'an append issued before close() completes')
  await t.rejects(log.append('g:aaaaaaaaaaaa', { from: 'a', device: 'd', cid: 'c2', kind: 'text', body: 2 }), { code: 'HAIL_ERR_STORE' })
  await db.close()
})

t.test('a failed write rejects its appends and leaves no gap: the next append takes the seq they did not get', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-im-log-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
  class FailingOnce extends GroupCommit {
    fail = false
    override write (ops: GroupCommitOperation[]): Promise<void> {
      if (!this.fail) return super.write(ops)
      this.fail = false
      return Promise.reject(new Error('disk full'))
    }
  }
  const groupCommit = new FailingOnce(db)
  const log = new LevelMessageLog(db.sublevel('im-log'), groupCommit)
  const conv = 'g:aaaaaaaaaaaa'
  const send = (cid: string) => log.append(conv, { from: 'a', device: 'd', cid, kind: 'text', body: cid })
  await send('ok1')
  groupCommit.fail = true
  const failed = [send('lost1'), send('lost2')]
  await nextTurn() // the failing batch is formed and being written
  const later = send('ok2') // queued behind it
  for (const append of failed) await t.rejects(append, { code: 'HAIL_ERR_STORE' })
  t.equal((await later).envelope.seq, 2, 'the batch after the failed one takes seq 2')
  t.equal((await send('lost1')).envelope.seq, 3, 'a failed message sent again is new')
  const { messages } = await log.read(conv, { after: 0, limit: 10 })
  t.same(messages.map(m => [m.seq, m.cid]), [[1, 'ok1'], [2, 'ok2'], [3, 'lost1']])
  await log.close()
  await db.close()
})
