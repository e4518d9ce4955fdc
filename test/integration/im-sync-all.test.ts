// sync.all: a device catches up on every conversation in one request
// (issue 12: "offline devices of a user with 50 conversations reconnect with
// one request, not 50"), with a real broker and raw MQTT devices.
import t from 'tap'
import { imServer, RawDevice } from '../helpers/im-server.js'

const seqs = (messages: Array<{ seq: number }>): number[] => messages.map((m) => m.seq)

t.test('one request returns the conversations and a page of each that is past the device\'s cursor', async (t) => {
  const users = ['alice', ...Array.from({ length: 50 }, (_, i) => `friend${i}`)]
  const { port } = await imServer(t, users)
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const convs: string[] = []
  for (let i = 0; i < 50; i++) {
    const { conv } = await alice.request('direct.open', { user: `friend${i}` })
    convs.push(conv)
    // conversation i holds i % 4 messages
    for (let m = 0; m < i % 4; m++) await alice.send(conv, { text: `to ${i}: ${m}` })
  }
  // the tablet has shown everything of conversation 3 (3 messages) and one message of conversation 7
  const tablet = await RawDevice.connect(t, port, 'alice', 'tablet')
  const reply = await tablet.request('sync.all', { after: { [convs[3]!]: 3, [convs[7]!]: 1, 'd:bob:mallory': 5 } })
  t.equal(reply.conversations.length, 50, 'every conversation listed, as `conversations` lists them')
  t.same(reply.conversations, (await tablet.request('conversations')).conversations, 'the same list')
  const behind = convs.filter((conv, i) => i % 4 !== 0 && conv !== convs[3])
  t.same(reply.pages.map((p: any) => p.conv).sort(), behind.sort(), 'a page for each conversation past the cursor, and none for the rest')
  const pageOf = (conv: string): any => reply.pages.find((p: any) => p.conv === conv)
  t.same(seqs(pageOf(convs[7]!).messages), [2, 3], 'from the cursor on')
  t.same(seqs(pageOf(convs[6]!).messages), [1, 2], 'from the start when the device has no cursor')
  t.same([pageOf(convs[6]!).more, pageOf(convs[6]!).lastSeq, pageOf(convs[6]!).firstSeq], [false, 2, 1])
  t.notOk(reply.pages.some((p: any) => p.conv === 'd:bob:mallory'), 'a conversation the caller is not in is ignored')
  t.equal(pageOf(convs[5]!).messages[0].body.text, 'to 5: 0')
})

t.test('the reply stays under the page budget: what does not fit is synced one by one', async (t) => {
  const { port } = await imServer(t, ['alice', 'bob', 'carol', 'dave'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  // 3 conversations of 5 messages of 16,000 characters (a text's limit is 16,384): 240,000 bytes
  // of text, over the 192 KiB a reply carries once each message's envelope is counted
  const big = 'x'.repeat(16_000)
  const convs: string[] = []
  for (const user of ['bob', 'carol', 'dave']) {
    const { conv } = await alice.request('direct.open', { user })
    convs.push(conv)
    for (let m = 0; m < 5; m++) t.equal((await alice.send(conv, { text: big })).type, 'sent')
  }
  const reply = await alice.request('sync.all', {})
  const total = reply.pages.reduce((n: number, p: any) => n + p.messages.length, 0)
  t.ok(total >= 1 && total < 15, `some messages, not all fifteen (${total})`)
  t.ok(JSON.stringify(reply.pages).length < 200 * 1024, 'the pages stay within the budget')
  const covered = new Set(reply.pages.filter((p: any) => !p.more).map((p: any) => p.conv))
  t.ok(covered.size < 3, 'at least one conversation is left for sync')
  for (const conv of convs) {
    const fromAll = reply.pages.find((p: any) => p.conv === conv)?.messages.length ?? 0
    const rest = await alice.request('sync', { conv, after: fromAll })
    t.equal(fromAll + rest.messages.length, 5, `${conv}: sync.all and sync together give all five`)
  }
})

t.test('bad arguments get a clear error', async (t) => {
  const { port } = await imServer(t, ['alice'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  for (const args of [{ after: { 'not a conv': 1 } }, { after: { 'd:alice:bob': -1 } }, { after: [] }, { limit: 501 }, { conv: 'd:alice:bob' }]) {
    await t.rejects(alice.request('sync.all', args), { code: 'HAIL_ERR_BAD_REQUEST' }, JSON.stringify(args))
  }
  const many = Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`d:a${i}:b`, 1]))
  t.same((await alice.request('sync.all', { after: many })).pages, [], '2,000 cursors of conversations the caller is not in: ignored')
  t.same((await alice.request('sync.all', {})).pages, [], 'a user without conversations gets nothing to sync')
})
