import type { Test } from 'tap'
import type { Envelope, MessageLog } from '../../../../broker/im/store/message-log.js'
import type { StoreFactory } from './store-fixture.js'

const G = 'g:aaaaaaaaaaaa'
const D = 'd:alice:bob'

function draft (cid: string, extra: object = {}) {
  return { from: 'alice', device: 'phone', cid, kind: 'text', body: { text: `msg ${cid}` }, ...extra }
}

function gapless (t: Test, messages: Envelope[], from: number, to: number, what: string): void {
  t.same(messages.map(m => m.seq), Array.from({ length: to - from + 1 }, (_, i) => from + i), what)
}

/** The conformance suite every MessageLog implementation runs. */
export function messageLogSuite (t: Test, factory: StoreFactory<MessageLog>): void {
  t.test('200 concurrent appends to one conversation get seqs 1..200, each once, each with its own message', async (t) => {
    const { store: log } = await factory(t)
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(G, draft(`c${i}`))))
    t.same(results.map(r => r.envelope.seq), Array.from({ length: 200 }, (_, i) => i + 1), 'seqs follow the order of append() calls')
    t.ok(results.every(r => !r.duplicate), 'none is a duplicate')
    const { messages, more, lastSeq } = await log.read(G, { after: 0, limit: 500 })
    gapless(t, messages, 1, 200, 'read() returns them all, gapless')
    t.equal(more, false)
    t.equal(lastSeq, 200)
    t.ok(messages.every(m => m.body !== null && (m.body as { text: string }).text === `msg ${m.cid}`), 'each seq holds the message appended with it')
    t.equal(await log.lastSeq(G), 200)
  })

  t.test('conversations count their seqs apart while appends to them interleave', async (t) => {
    const { store: log } = await factory(t)
    const convs = ['g:aaaaaaaaaaaa', 'g:bbbbbbbbbbbb', 'c:cccccccccccc', 'd:alice:bob', 'd:alice:carol']
    const appends = []
    for (let i = 0; i < 40; i++) {
      for (const conv of convs) appends.push(log.append(conv, draft(`${conv}-${i}`)))
    }
    await Promise.all(appends)
    for (const conv of convs) {
      const { messages } = await log.read(conv, { after: 0, limit: 500 })
      gapless(t, messages, 1, 40, `${conv} has seqs 1..40`)
      t.same(messages.map(m => m.cid), Array.from({ length: 40 }, (_, i) => `${conv}-${i}`), `${conv} holds its own messages in order`)
    }
  })

  t.test('append() stamps id, conv, seq and server time, keeps a given ts, and stores the body untouched', async (t) => {
    const { store: log } = await factory(t)
    const before = Date.now()
    const { envelope } = await log.append(D, draft('x1', { body: 'q29wYXF1ZSBjaXBoZXJ0ZXh0', device: 'laptop', kind: 'e2e' }))
    const after = Date.now()
    t.match(envelope, { id: `${D}/1`, conv: D, seq: 1, from: 'alice', device: 'laptop', cid: 'x1', kind: 'e2e', body: 'q29wYXF1ZSBjaXBoZXJ0ZXh0' })
    t.ok(envelope.ts >= before && envelope.ts <= after, 'ts is the server time')
    const body = { nested: [1, 'two', { three: null }], unicode: 'héllo 日本 🎉' }
    const second = await log.append(D, draft('x2', { ts: 1234, body }))
    t.equal(second.envelope.ts, 1234, 'a given ts is kept')
    t.same(await log.get(D, 2), second.envelope, 'get() returns what append() returned')
    t.same((await log.get(D, 2))?.body, body)
    t.equal(await log.get(D, 3), undefined, 'get() of a seq not appended yet is undefined')
    t.equal(await log.get(D, 0), undefined)
  })

  t.test('a resend of (conv, from, cid) returns the stored envelope as a duplicate, also after a restart', async (t) => {
    const fixture = await factory(t)
    let log = fixture.store
    const first = await log.append(G, draft('m1', { body: 'original' }))
    await log.append(G, draft('m2'))
    const again = await log.append(G, draft('m1', { body: 'resent', device: 'laptop' }))
    t.equal(again.duplicate, true)
    t.same(again.envelope, first.envelope, 'the stored envelope, not the resent one')
    t.equal(await log.lastSeq(G), 2, 'nothing was appended')

    log = await fixture.restart()
    const afterRestart = await log.append(G, draft('m1', { body: 'resent again' }))
    t.equal(afterRestart.duplicate, true, 'the idempotency index survives a restart')
    t.same(afterRestart.envelope, first.envelope)

    const otherSender = await log.append(G, draft('m1', { from: 'bob' }))
    t.same([otherSender.duplicate, otherSender.envelope.seq], [false, 3], 'the same cid from another sender is another message')
    const otherConv = await log.append('g:bbbbbbbbbbbb', draft('m1'))
    t.same([otherConv.duplicate, otherConv.envelope.seq], [false, 1], 'the same cid in another conversation is another message')

    const racing = await Promise.all(Array.from({ length: 10 }, () => log.append(G, draft('m9'))))
    t.equal(racing.filter(r => !r.duplicate).length, 1, 'of concurrent resends one appends')
    t.ok(racing.every(r => r.envelope.seq === 4), 'and all get its seq')
    t.equal(await log.lastSeq(G), 4)
  })

  t.test('read() pages ascending with more, capped at 500 a page', async (t) => {
    const { store: log } = await factory(t)
    for (let i = 1; i <= 25; i++) await log.append(G, draft(`p${i}`))
    let page = await log.read(G, { after: 0, limit: 10 })
    gapless(t, page.messages, 1, 10, 'first page')
    t.same([page.more, page.lastSeq, page.firstSeq], [true, 25, 1])
    page = await log.read(G, { after: 10, limit: 10 })
    gapless(t, page.messages, 11, 20, 'second page')
    t.equal(page.more, true)
    page = await log.read(G, { after: 20, limit: 10 })
    gapless(t, page.messages, 21, 25, 'last page')
    t.equal(page.more, false)
    page = await log.read(G, { after: 25, limit: 10 })
    t.same([page.messages, page.more, page.lastSeq], [[], false, 25], 'nothing after the newest')
    page = await log.read(G, { after: 24, limit: 1 })
    t.same([page.messages.map(m => m.seq), page.more], [[25], false], 'a page that ends at the newest has no more')

    await Promise.all(Array.from({ length: 500 }, (_, i) => log.append(G, draft(`q${i}`))))
    page = await log.read(G, { after: 0, limit: 100_000 })
    t.equal(page.messages.length, 500, 'a page holds at most 500')
    t.equal(page.more, true)
  })

  t.test('an unknown conversation reads as empty', async (t) => {
    const { store: log } = await factory(t)
    t.same(await log.read('c:zzzzzzzzzzzz', { after: 0, limit: 10 }), { messages: [], more: false, lastSeq: 0, firstSeq: 1 })
    t.equal(await log.lastSeq('c:zzzzzzzzzzzz'), 0)
  })

  t.test('seqs continue after a restart', async (t) => {
    const fixture = await factory(t)
    let log = fixture.store
    await Promise.all([1, 2, 3].map(i => log.append(G, draft(`r${i}`))))
    log = await fixture.restart()
    t.equal(await log.lastSeq(G), 3, 'lastSeq is read back')
    t.equal((await log.append(G, draft('r4'))).envelope.seq, 4)
    const { messages } = await log.read(G, { after: 0, limit: 10 })
    gapless(t, messages, 1, 4, 'no gap across the restart')
  })

  t.test('prune() by count keeps the newest, read() reports firstSeq, and seqs go on', async (t) => {
    const fixture = await factory(t)
    let log = fixture.store
    for (let i = 1; i <= 10; i++) await log.append(G, draft(`k${i}`))
    t.equal(await log.prune(G, { maxCount: 4 }), 6, 'six removed')
    const page = await log.read(G, { after: 2, limit: 100 })
    gapless(t, page.messages, 7, 10, 'reading from before the first kept starts at it')
    t.same([page.firstSeq, page.lastSeq], [7, 10])
    t.equal(await log.get(G, 6), undefined, 'a pruned message is gone')
    t.equal(await log.prune(G, { maxCount: 4 }), 0, 'pruning again removes nothing')
    t.equal((await log.append(G, draft('k11'))).envelope.seq, 11)
    log = await fixture.restart()
    const reopened = await log.read(G, { after: 0, limit: 100 })
    gapless(t, reopened.messages, 7, 11, 'after a restart')
    t.equal(reopened.firstSeq, 7)
    t.equal((await log.append(G, draft('k7'))).duplicate, true, 'a kept message stays deduplicated')
  })

  t.test('prune() by age removes from the oldest while older than maxAgeMs', async (t) => {
    const { store: log } = await factory(t)
    for (let i = 1; i <= 10; i++) await log.append(G, draft(`a${i}`, { ts: i * 1000 }))
    t.equal(await log.prune(G, { maxAgeMs: 4500, now: 10_000 }), 5, 'ts 1000..5000 are older than 5500')
    const page = await log.read(G, { after: 0, limit: 100 })
    gapless(t, page.messages, 6, 10, 'the young ones stay')
    t.equal(page.firstSeq, 6)
    t.equal(await log.prune(G, { maxAgeMs: 100_000, maxCount: 2, now: 10_000 }), 3, 'count applies even when age would keep')
    t.equal((await log.read(G, { after: 0, limit: 100 })).firstSeq, 9)
  })

  t.test('pruning everything keeps the counter, across a restart', async (t) => {
    const fixture = await factory(t)
    let log = fixture.store
    for (let i = 1; i <= 5; i++) await log.append(G, draft(`e${i}`))
    t.equal(await log.prune(G, { maxCount: 0 }), 5)
    t.same(await log.read(G, { after: 0, limit: 10 }), { messages: [], more: false, lastSeq: 5, firstSeq: 6 })
    log = await fixture.restart()
    t.equal(await log.lastSeq(G), 5, 'lastSeq is kept although no message is')
    t.same(await log.read(G, { after: 3, limit: 10 }), { messages: [], more: false, lastSeq: 5, firstSeq: 6 })
    t.equal((await log.append(G, draft('e6'))).envelope.seq, 6, 'no seq is reused')
  })

  t.test('prune() of thousands of messages, with appends running alongside', async (t) => {
    const { store: log } = await factory(t)
    await Promise.all(Array.from({ length: 2500 }, (_, i) => log.append(G, draft(`b${i}`))))
    const [removed] = await Promise.all([
      log.prune(G, { maxCount: 10 }),
      ...Array.from({ length: 20 }, (_, i) => log.append(G, draft(`late${i}`)))
    ])
    const page = await log.read(G, { after: 0, limit: 500 })
    t.equal(page.lastSeq, 2520)
    t.ok(removed >= 2490 && removed <= 2510, `${removed} removed`)
    gapless(t, page.messages, page.firstSeq, 2520, 'what is left is gapless up to the newest')
    t.equal(page.firstSeq, removed + 1)
  })

  t.test('recall() turns the message and its edits into tombstones, across a restart, and a resend stays a duplicate', async (t) => {
    const fixture = await factory(t)
    let log = fixture.store
    await log.append(G, draft('t1', { body: { text: 'the secret' } }))
    await log.append(G, draft('t2', { kind: 'edit', body: { ref: 1, text: 'the secret, edited' } }))
    await log.append(G, draft('t3', { from: 'bob', body: { text: 'unrelated' } }))
    await log.append(G, draft('t4', { kind: 'edit', body: { ref: 3, text: 'an edit of another message' } }))
    await log.append(G, draft('t5', { from: 'bob', kind: 'reaction', body: { ref: 1, emoji: '👍' } }))
    const { envelope: del } = await log.append(G, draft('t6', { kind: 'delete', body: { ref: 1 } }))
    const tombstone = await log.recall(G, 1, { by: 'alice', seq: del.seq })
    const original = { id: `${G}/1`, conv: G, seq: 1, from: 'alice', device: 'phone', cid: 't1', kind: 'text' }
    t.match(tombstone, { ...original, body: null, deleted: { by: 'alice', seq: 6 } }, 'recall() resolves with the tombstone')
    log = await fixture.restart()
    t.same(await log.get(G, 1), tombstone, 'get() returns the tombstone after a restart')
    const { messages } = await log.read(G, { after: 0, limit: 10 })
    t.same(messages.map(m => m.body), [null, { ref: 1 }, { text: 'unrelated' }, { ref: 3, text: 'an edit of another message' }, { ref: 1, emoji: '👍' }, { ref: 1 }],
      'the body and the edit\'s text are erased; other messages, reactions and the delete stay')
    t.same(messages[1]!.deleted, { by: 'alice', seq: 6 }, 'the erased edit says so too')
    t.equal(messages[0]!.ts, tombstone!.ts, 'ts is kept')
    t.notOk(JSON.stringify(messages).includes('secret'), 'nothing of the text is left in what read() returns')
    const resend = await log.append(G, draft('t1', { body: { text: 'the secret' } }))
    t.ok(resend.duplicate, 'a resend of the recalled message is a duplicate')
    t.same(resend.envelope, tombstone, 'and returns the tombstone, not the text')
    t.equal(await log.lastSeq(G), 6, 'no seq was used')
  })

  t.test('recall() again keeps the first recall and erases edits stored since; unknown and pruned seqs are undefined', async (t) => {
    const { store: log } = await factory(t)
    await log.append(G, draft('u1'))
    await log.recall(G, 1, { by: 'alice', seq: 2 })
    await log.append(G, draft('u2', { kind: 'delete', body: { ref: 1 } }))
    await log.append(G, draft('u3', { kind: 'edit', body: { ref: 1, text: 'late edit' } }))
    const again = await log.recall(G, 1, { by: 'carol', seq: 9 })
    t.same(again?.deleted, { by: 'alice', seq: 2 }, 'the first recall is kept')
    t.same((await log.get(G, 3))?.body, { ref: 1 }, 'an edit stored after the first recall is erased by the second')
    t.equal(await log.recall(G, 7, { by: 'alice', seq: 8 }), undefined, 'a seq never appended')
    t.equal(await log.lastSeq(G), 3, 'recalling a missing seq appends nothing')
    await log.prune(G, { maxCount: 1 })
    t.equal(await log.recall(G, 2, { by: 'alice', seq: 8 }), undefined, 'a pruned seq')
    t.equal(await log.get(G, 2), undefined, 'and it is not brought back')
  })

  t.test('recall() with editsAfter looks for edits only after that seq', async (t) => {
    const { store: log } = await factory(t)
    await log.append(G, draft('x1'))
    await log.recall(G, 1, { by: 'alice', seq: 9 })
    // edits stored behind the recall's back (as after a crash), one before and one after editsAfter
    await log.append(G, draft('x2', { kind: 'edit', body: { ref: 1, text: 'early' } }))
    await log.append(G, draft('x3', { kind: 'edit', body: { ref: 1, text: 'late' } }))
    await log.recall(G, 1, { by: 'alice', seq: 9 }, { editsAfter: 2 })
    t.same((await log.get(G, 2))?.body, { ref: 1, text: 'early' }, 'an edit at or before editsAfter is not looked at')
    t.same((await log.get(G, 3))?.body, { ref: 1 }, 'the one after it is erased')
  })

  t.test('recall() while appends run: every seq keeps its own message, and edits far after the target are found', async (t) => {
    const { store: log } = await factory(t)
    await log.append(G, draft('v0', { body: { text: 'to recall' } }))
    const appends = []
    for (let i = 1; i <= 1200; i++) appends.push(log.append(G, draft(`v${i}`, i % 300 === 0 ? { kind: 'edit', body: { ref: 1, text: `edit ${i}` } } : {})))
    await Promise.all(appends)
    const racing = Array.from({ length: 50 }, (_, i) => log.append(G, draft(`w${i}`)))
    await log.recall(G, 1, { by: 'alice', seq: 1300 })
    await Promise.all(racing)
    const all: Envelope[] = []
    for (let after = 0; ;) {
      const page = await log.read(G, { after, limit: 500 })
      all.push(...page.messages)
      if (!page.more) break
      after = page.messages.at(-1)!.seq
    }
    gapless(t, all, 1, 1251, 'gapless')
    t.equal(all.filter(m => m.deleted !== undefined).length, 5, 'the target and its four edits are tombstones')
    t.notOk(JSON.stringify(all).includes('edit '), 'no edit text is left')
    t.ok(all.filter(m => m.deleted === undefined).every(m => (m.body as { text: string }).text === `msg ${m.cid}`), 'every other seq holds its own message')
  })

  t.test('bad input is refused with HAIL_ERR_STORE_INPUT and nothing is appended', async (t) => {
    const { store: log } = await factory(t)
    const code = 'HAIL_ERR_STORE_INPUT'
    await t.rejects(log.append('general', draft('z')), { code }, 'a malformed conversation id')
    await t.rejects(log.append('d:bob:alice', draft('z')), { code }, 'a direct id out of order')
    await t.rejects(log.append(G, draft('z', { from: 'Alice!' })), { code }, 'a malformed sender')
    await t.rejects(log.append(G, draft('')), { code }, 'an empty cid')
    await t.rejects(log.append(G, draft('has space')), { code }, 'a cid with a space')
    await t.rejects(log.append(G, draft('z', { body: undefined })), { code }, 'a body JSON cannot hold')
    await t.rejects(log.append(G, draft('z', { body: 10n })), { code }, 'a BigInt body')
    await t.rejects(log.read(G, { after: -1, limit: 10 }), { code })
    await t.rejects(log.read(G, { after: 0, limit: 0 }), { code })
    t.equal(await log.lastSeq(G), 0)
  })
}
