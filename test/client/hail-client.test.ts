import t, { type Test } from 'tap'
import type { Envelope } from '../../protocol/index.js'
import { HailClient, HailClientError, MemoryCursorStore, type HailClientOptions } from '../../client/index.js'
import { FakeTransport } from './fake-transport.js'

const DM = 'd:alice:bob'
const GROUP = 'g:abcdefghijkl'

function env (conv: string, seq: number): Envelope {
  return { id: `${conv}/${seq}`, conv, seq, from: 'bob', device: 'laptop', cid: `c${seq}`, ts: 1000 + seq, kind: 'text', body: { text: `m${seq}` } }
}

const tick = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }

/** A server log per conversation behind the fake's `conversations` and `sync` handlers. */
function serveLogs (fake: FakeTransport, logs: Record<string, number>): void {
  fake.handlers.conversations = () => ({
    conversations: Object.entries(logs).map(([conv, lastSeq]) => ({ conv, type: conv.startsWith('c:') ? 'channel' : conv.startsWith('g:') ? 'group' : 'direct', role: 'member', lastSeq, firstSeq: 1, read: 0, delivered: 0 }))
  })
  fake.handlers.sync = ({ conv, after }: { conv: string, after: number }) => {
    const lastSeq = logs[conv] ?? 0
    const messages: Envelope[] = []
    for (let s = after + 1; s <= lastSeq && messages.length < 2; s++) messages.push(env(conv, s))
    return { conv, messages, more: (messages.at(-1)?.seq ?? lastSeq) < lastSeq, lastSeq, firstSeq: 1 }
  }
}

/** `sync.all` over the same logs: the list and a first page of each conversation past the device's cursor. */
function serveSyncAll (fake: FakeTransport, logs: Record<string, number>): void {
  serveLogs(fake, logs)
  fake.handlers['sync.all'] = ({ after }: { after: Record<string, number> }) => ({
    conversations: fake.handlers.conversations!({}, undefined as never).conversations,
    pages: Object.keys(logs).filter((conv) => logs[conv]! > (after[conv] ?? 0)).map((conv) => fake.handlers.sync!({ conv, after: after[conv] ?? 0 }, undefined as never))
  })
}

async function connected (t: Test, options: Partial<HailClientOptions> = {}, fake = new FakeTransport()): Promise<{ client: HailClient, fake: FakeTransport, errors: HailClientError[] }> {
  fake.handlers.conversations ??= () => ({ conversations: [] })
  const client = new HailClient({ user: 'alice', device: 'phone', transport: fake, timeout: 200, ...options })
  const errors: HailClientError[] = []
  client.on('error', (err) => errors.push(err))
  const synced = new Promise<void>((resolve) => client.once('synced', resolve))
  await client.connect()
  t.teardown(() => client.close())
  await synced // the first catch-up is done: the fake's log is what the tests add
  return { client, fake, errors }
}

t.test('connect() subscribes to the inbox and the reply topic at QoS 1 before it resolves', async (t) => {
  const { fake } = await connected(t)
  t.same(fake.subscriptions[0], ['im/inbox/alice/#', 'im/reply/alice/phone'])
})

t.test('connect() rejects with HAIL_ERR_SUBSCRIBE and closes when the inbox is refused', async (t) => {
  const fake = new FakeTransport()
  fake.refuse.add('im/inbox/alice/#')
  const client = new HailClient({ user: 'alice', device: 'phone', transport: fake })
  await t.rejects(client.connect(), { code: 'HAIL_ERR_SUBSCRIBE' })
  t.ok(fake.closed)
  await t.rejects(client.text(DM, 'hi'), { code: 'HAIL_ERR_CLOSED' })
})

t.test('options a client id cannot carry are refused before any I/O', async (t) => {
  t.throws(() => new HailClient({ user: 'al/ice', device: 'phone', url: 'mqtt://x' }), { code: 'HAIL_ERR_BAD_ARGUMENT' })
  t.throws(() => new HailClient({ user: 'alice', device: '#', url: 'mqtt://x' }), { code: 'HAIL_ERR_BAD_ARGUMENT' })
  t.throws(() => new HailClient({ user: 'alice', device: 'p', url: 'mqtt://x', password: 'a', token: 'b' }), { code: 'HAIL_ERR_BAD_ARGUMENT' })
  t.throws(() => new HailClient({ user: 'alice', device: 'p' }), { code: 'HAIL_ERR_BAD_ARGUMENT' })
})

t.test('send() publishes at QoS 1 with a fresh cid and resolves with the sent reply of that cid', async (t) => {
  const { client, fake } = await connected(t)
  const sending = client.send(DM, { kind: 'text', body: { text: 'hi' } })
  await tick()
  const [p] = fake.sends()
  t.equal(p!.topic, `im/send/${DM}`)
  t.equal(p!.qos, 1)
  t.match(p!.payload, { kind: 'text', body: { text: 'hi' } })
  t.match(p!.payload.cid, /^[A-Za-z0-9_-]{1,64}$/)
  fake.reply({ type: 'sent', cid: 'someone-else', conv: DM, seq: 1, id: `${DM}/1`, ts: 5, duplicate: false })
  fake.reply({ type: 'sent', cid: p!.payload.cid, conv: DM, seq: 2, id: `${DM}/2`, ts: 6, duplicate: false })
  t.same(await sending, { cid: p!.payload.cid, conv: DM, seq: 2, id: `${DM}/2`, ts: 6, duplicate: false })
})

t.test('two sends get their own replies, whatever order the replies come in', async (t) => {
  const { client, fake } = await connected(t)
  const a = client.text(DM, 'a', { cid: 'cid-a' })
  const b = client.text(DM, 'b', { cid: 'cid-b' })
  await tick()
  fake.reply({ type: 'sent', cid: 'cid-b', conv: DM, seq: 8, id: `${DM}/8`, ts: 1, duplicate: false })
  fake.reply({ type: 'sent', cid: 'cid-a', conv: DM, seq: 7, id: `${DM}/7`, ts: 1, duplicate: false })
  t.equal((await a).seq, 7)
  t.equal((await b).seq, 8)
})

t.test('a resend with the same cid resolves once per call with the stored seq and duplicate', async (t) => {
  const { client, fake } = await connected(t)
  const first = client.text(DM, 'x', { cid: 'same' })
  const again = client.text(DM, 'x', { cid: 'same' })
  await tick()
  t.equal(fake.sends().length, 2, 'both published')
  fake.reply({ type: 'sent', cid: 'same', conv: DM, seq: 3, id: `${DM}/3`, ts: 1, duplicate: false })
  fake.reply({ type: 'sent', cid: 'same', conv: DM, seq: 3, id: `${DM}/3`, ts: 1, duplicate: true })
  t.same([(await first).seq, (await again).seq], [3, 3])
  const later = client.text(DM, 'x', { cid: 'same' })
  await tick()
  fake.reply({ type: 'sent', cid: 'same', conv: DM, seq: 3, id: `${DM}/3`, ts: 1, duplicate: true })
  t.match(await later, { seq: 3, duplicate: true })
})

t.test('a send whose sent reply is lost settles from its echo in the inbox, or from sync (protocol v2: sent is QoS 0)', async (t) => {
  const { client, fake } = await connected(t, { timeout: 2000 })
  const echoed = client.text(DM, 'hi', { cid: 'echo-1' })
  const other = client.text(GROUP, 'hi', { cid: 'echo-2' })
  await tick()
  const own = (conv: string, seq: number, cid: string, device = 'phone'): Envelope => ({ ...env(conv, seq), from: 'alice', device, cid })
  // the same cid from another device, or in another conversation, is not this send
  fake.deliver(`im/inbox/alice/${DM}`, { v: 2, type: 'message', msg: own(DM, 1, 'echo-2') })
  fake.deliver(`im/inbox/alice/${DM}`, { v: 2, type: 'message', msg: own(DM, 2, 'echo-1', 'laptop') })
  fake.deliver(`im/inbox/alice/${DM}`, { v: 2, type: 'message', msg: own(DM, 3, 'echo-1') })
  t.same(await echoed, { cid: 'echo-1', conv: DM, seq: 3, id: `${DM}/3`, ts: 1003, duplicate: false })
  // no echo (the connection dropped): the sync that follows shows it
  fake.handlers.sync = ({ conv, after }: { conv: string, after: number }) => ({
    conv, messages: after < 1 ? [own(GROUP, 1, 'echo-2')] : [], more: false, lastSeq: 1, firstSeq: 1
  })
  await client.sync(GROUP)
  t.match(await other, { cid: 'echo-2', conv: GROUP, seq: 1 })
})

t.test('a refused send rejects with the server code and the cid as ref', async (t) => {
  const { client, fake, errors } = await connected(t)
  const sending = client.text(DM, 'hi', { cid: 'm-1' })
  await tick()
  fake.reply({ type: 'error', ref: 'm-1', conv: DM, error: { code: 'HAIL_ERR_NOT_MEMBER', message: 'not a member' } })
  const err = await sending.catch((e: unknown) => e)
  t.ok(err instanceof HailClientError)
  t.match(err, { code: 'HAIL_ERR_NOT_MEMBER', ref: 'm-1', message: 'not a member' })
  t.same(errors, [], 'a correlated error goes to the promise only')
  fake.reply({ type: 'error', ref: null, error: { code: 'HAIL_ERR_BAD_REQUEST', message: 'not JSON' } })
  t.match(errors, [{ code: 'HAIL_ERR_BAD_REQUEST' }], 'an uncorrelated one goes to the error event')
})

t.test('no reply in time rejects with HAIL_ERR_TIMEOUT; the late reply is ignored', async (t) => {
  const { client, fake, errors } = await connected(t, { timeout: 30 })
  await t.rejects(client.text(DM, 'hi', { cid: 'slow' }), { code: 'HAIL_ERR_TIMEOUT', ref: 'slow' })
  fake.reply({ type: 'sent', cid: 'slow', conv: DM, seq: 1, id: `${DM}/1`, ts: 1, duplicate: false })
  await t.rejects(client.request('direct.open', { user: 'bob' }, { timeout: 20 }), { code: 'HAIL_ERR_TIMEOUT' })
  t.same(errors, [])
})

t.test('bad arguments are refused without publishing', async (t) => {
  const { client, fake } = await connected(t)
  await t.rejects(client.text(DM, 'x', { cid: 'has space' }), { code: 'HAIL_ERR_BAD_ARGUMENT' })
  await t.rejects(client.text('im/#', 'x'), { code: 'HAIL_ERR_BAD_ARGUMENT' })
  await t.rejects(client.request('sync/#' as 'sync', { conv: DM, after: 0 }), { code: 'HAIL_ERR_BAD_ARGUMENT' })
  t.same(fake.sends(), [])
})

t.test('request() correlates by req: results resolve, errors reject with the server code', async (t) => {
  const { client, fake } = await connected(t)
  fake.handlers['direct.open'] = ({ user }: { user: string }) => ({ conv: ['alice', user].sort().join(':').replace(/^/, 'd:') })
  fake.handlers['group.create'] = () => { throw Object.assign(new Error('no such user zed'), { code: 'HAIL_ERR_NOT_FOUND' }) }
  const [conv, refused] = await Promise.all([
    client.openDirect('bob'),
    client.createGroup('g', ['zed']).catch((e: unknown) => e)
  ])
  t.equal(conv, 'd:alice:bob')
  t.match(refused, { code: 'HAIL_ERR_NOT_FOUND', message: 'no such user zed' })
  const [open] = fake.requests('direct.open')
  t.match(open!.payload, { user: 'bob' })
  t.match(open!.payload.req, /^[A-Za-z0-9_-]{1,64}$/)
  t.equal(open!.qos, 1)
})

t.test('the convenience methods send the protocol\'s arguments and unwrap its results', async (t) => {
  const { client, fake } = await connected(t)
  fake.handlers.read = ({ conv, seq }) => ({ conv, read: seq })
  fake.handlers['presence.set'] = ({ status }) => ({ status })
  fake.handlers['conv.add'] = ({ conv, users }) => ({ conv, added: users })
  fake.handlers['conv.remove'] = ({ conv, users }) => ({ conv, removed: users })
  fake.handlers['conv.members'] = ({ conv }) => ({ conv, members: [{ user: 'alice', role: 'owner' }] })
  fake.handlers['conv.rename'] = ({ conv, name }) => ({ conv, name })
  fake.handlers['channel.create'] = () => ({ conv: 'c:abcdefghijkl' })
  t.equal(await client.markRead(GROUP, 4), 4)
  await client.setPresence('away')
  t.same(await client.addMembers(GROUP, ['bob']), ['bob'])
  t.same(await client.removeMembers(GROUP, ['bob']), ['bob'])
  t.same(await client.members(GROUP), [{ user: 'alice', role: 'owner' }])
  await client.rename(GROUP, 'new name')
  t.equal(await client.createChannel('news'), 'c:abcdefghijkl')
  t.match(fake.subscriptions.at(-1), ['im/conv/c:abcdefghijkl'], 'a created channel\'s feed is subscribed')
  t.match(fake.requests().map((r) => [r.topic, r.payload]), [
    ['im/cmd/sync.all', { after: {} }], // the catch-up: the fake has no sync.all, so
    ['im/cmd/conversations', {}],
    ['im/cmd/read', { conv: GROUP, seq: 4 }],
    ['im/cmd/presence.set', { status: 'away' }],
    ['im/cmd/conv.add', { conv: GROUP, users: ['bob'] }],
    ['im/cmd/conv.remove', { conv: GROUP, users: ['bob'] }],
    ['im/cmd/conv.members', { conv: GROUP }],
    ['im/cmd/conv.rename', { conv: GROUP, name: 'new name' }],
    ['im/cmd/channel.create', { name: 'news' }]
  ])
})

t.test('typing() publishes at QoS 0 and expects no reply', async (t) => {
  const { client, fake } = await connected(t)
  client.typing(GROUP)
  client.typing(GROUP, false)
  await tick()
  t.match(fake.published.filter((p) => p.topic.startsWith('im/typing/')), [
    { topic: `im/typing/${GROUP}`, payload: { typing: true }, qos: 0 },
    { topic: `im/typing/${GROUP}`, payload: { typing: false }, qos: 0 }
  ])
})

t.test('close() fails what is pending with HAIL_ERR_CLOSED, and later calls too', async (t) => {
  const { client, fake } = await connected(t)
  let closed = 0
  client.on('close', () => closed++)
  const pending = client.text(DM, 'hi')
  const request = client.conversations()
  await client.close()
  await client.close()
  await t.rejects(pending, { code: 'HAIL_ERR_CLOSED' })
  await t.rejects(request, { code: 'HAIL_ERR_CLOSED' })
  await t.rejects(client.text(DM, 'again'), { code: 'HAIL_ERR_CLOSED' })
  t.ok(fake.closed)
  t.equal(closed, 1, 'close is emitted once')
})

t.test('server events reach their typed events without v and type', async (t) => {
  const { client, fake } = await connected(t)
  const seen: unknown[] = []
  client.on('receipt', (r) => seen.push(['receipt', r]))
  client.on('typing', (e) => seen.push(['typing', e]))
  client.on('presence', (p) => seen.push(['presence', p]))
  client.on('conversation', (c) => seen.push(['conversation', c]))
  fake.deliver(`im/inbox/alice/${DM}`, { type: 'receipt', conv: DM, user: 'bob', delivered: 4, read: 2 })
  fake.deliver(`im/inbox/alice/${DM}`, { type: 'typing', conv: DM, from: 'bob', device: 'laptop', typing: true })
  fake.deliver('im/presence/bob', { type: 'presence', user: 'bob', status: 'away', lastSeen: 9 })
  fake.deliver('im/inbox/alice', { type: 'conversation', event: 'updated', conv: GROUP, name: 'n' })
  t.same(seen, [
    ['receipt', { conv: DM, user: 'bob', delivered: 4, read: 2 }],
    ['typing', { conv: DM, from: 'bob', device: 'laptop', typing: true }],
    ['presence', { user: 'bob', status: 'away', lastSeen: 9 }],
    ['conversation', { event: 'updated', conv: GROUP, name: 'n' }]
  ])
})

t.test('payloads that are not protocol v1 or v2 are reported and dropped', async (t) => {
  const { client, fake, errors } = await connected(t)
  const messages: Envelope[] = []
  client.on('message', (m) => messages.push(m))
  fake.deliver(`im/inbox/alice/${DM}`, 'not json')
  fake.deliver(`im/inbox/alice/${DM}`, JSON.stringify({ v: 3, type: 'message', msg: env(DM, 1) }))
  fake.deliver(`im/inbox/alice/${DM}`, { type: 'message', msg: { seq: 1 } })
  fake.deliver(`im/inbox/alice/${DM}`, { type: 'message', msg: env(GROUP, 1) })
  t.same(messages, [])
  t.equal(errors.length, 4)
  t.ok(errors.every((e) => e.code === 'HAIL_ERR_BAD_PAYLOAD'))
  t.match(errors[3]!.message, /carries a message of g:/)
  // a version 1 server's events are read as before
  fake.deliver(`im/inbox/alice/${DM}`, JSON.stringify({ v: 1, type: 'message', msg: env(DM, 1) }))
  t.same(messages.map((m) => m.seq), [1])
})

t.test('a throwing listener is reported as HAIL_ERR_LISTENER and the client goes on', async (t) => {
  const { client, fake, errors } = await connected(t)
  const shown: number[] = []
  client.on('message', () => { throw new Error('app bug') })
  client.on('message', (m) => shown.push(m.seq))
  fake.deliver(`im/inbox/alice/${DM}`, { type: 'message', msg: env(DM, 1) })
  fake.deliver(`im/inbox/alice/${DM}`, { type: 'message', msg: env(DM, 2) })
  t.same(shown, [1, 2])
  t.match(errors, [{ code: 'HAIL_ERR_LISTENER' }, { code: 'HAIL_ERR_LISTENER' }])
})

t.test('messages a resumed session delivers before connect() resolves reach listeners attached after it', async (t) => {
  const fake = new FakeTransport()
  fake.sessionPresent = true
  fake.queued = [[`im/inbox/alice/${DM}`, { type: 'message', msg: env(DM, 1) }], [`im/inbox/alice/${DM}`, { type: 'message', msg: env(DM, 2) }]]
  serveLogs(fake, { [DM]: 2 })
  const client = await HailClient.connect({ user: 'alice', device: 'phone', transport: fake })
  t.teardown(() => client.close())
  const shown: number[] = []
  let resumed: boolean | undefined
  client.on('message', (m) => shown.push(m.seq))
  await new Promise<void>((resolve) => client.once('synced', resolve))
  t.same(shown, [1, 2])
  t.equal(fake.requests('sync').length, 0, 'the catch-up found nothing behind')
  client.on('connect', (c) => { resumed = c.resumed })
  fake.connectAgain()
  await tick()
  t.equal(resumed, true)
})

t.test('after connecting, every conversation behind its cursor is synced, from the cursor', async (t) => {
  const fake = new FakeTransport()
  serveLogs(fake, { [DM]: 5, [GROUP]: 3, 'c:abcdefghijkl': 2 })
  const store = new MemoryCursorStore()
  store.save(DM, 2)
  store.save(GROUP, 3)
  const client = new HailClient({ user: 'alice', device: 'phone', transport: fake, store })
  t.teardown(() => client.close())
  const shown: string[] = []
  client.on('message', (m) => shown.push(m.id))
  const synced = new Promise<void>((resolve) => client.once('synced', resolve))
  await client.connect()
  await synced
  t.same(shown.filter((id) => id.startsWith(DM)), [`${DM}/3`, `${DM}/4`, `${DM}/5`], 'DM from its cursor, both pages')
  t.same(shown.filter((id) => id.startsWith('c:')), ['c:abcdefghijkl/1', 'c:abcdefghijkl/2'], 'a new conversation from the start')
  t.notOk(fake.requests('sync').some((r) => r.payload.conv === GROUP), 'the group was up to date')
  t.match(fake.subscriptions, [['im/inbox/alice/#', 'im/reply/alice/phone'], ['im/conv/c:abcdefghijkl']], 'the channel feed is subscribed')
  t.same([store.get(DM), store.get(GROUP), store.get('c:abcdefghijkl')], [5, 3, 2], 'cursors saved')
  t.equal(client.cursor(DM), 5)
})

t.test('a reconnect subscribes again and catches up what was missed while offline', async (t) => {
  const fake = new FakeTransport()
  const logs = { [DM]: 1, 'c:abcdefghijkl': 0 }
  serveLogs(fake, logs)
  const { client } = await connected(t, {}, fake)
  t.equal(client.cursor(DM), 1, 'the first catch-up showed DM 1')
  const shown: string[] = []
  client.on('message', (m) => shown.push(m.id))
  fake.dropConnection()
  logs[DM] = 4
  const synced = new Promise<void>((resolve) => client.once('synced', resolve))
  fake.connectAgain()
  await synced
  t.same(shown, [`${DM}/2`, `${DM}/3`, `${DM}/4`])
  t.match(fake.subscriptions.slice(-2), [['im/inbox/alice/#', 'im/reply/alice/phone'], ['im/conv/c:abcdefghijkl']], 'inbox, replies and channel feeds again')
})

t.test('a live gap syncs that conversation once and shows everything once in order', async (t) => {
  const fake = new FakeTransport()
  serveLogs(fake, { [GROUP]: 0 })
  const { client } = await connected(t, {}, fake)
  await client.sync()
  const shown: number[] = []
  client.on('message', (m) => shown.push(m.seq))
  serveLogs(fake, { [GROUP]: 6 })
  fake.deliver(`im/inbox/alice/${GROUP}`, { type: 'message', msg: env(GROUP, 1) })
  fake.deliver(`im/inbox/alice/${GROUP}`, { type: 'message', msg: env(GROUP, 4) })
  fake.deliver(`im/inbox/alice/${GROUP}`, { type: 'message', msg: env(GROUP, 6) })
  fake.deliver(`im/inbox/alice/${GROUP}`, { type: 'message', msg: env(GROUP, 4) })
  await tick()
  await tick()
  t.same(shown, [1, 2, 3, 4, 5, 6])
  t.same(fake.requests('sync').map((r) => r.payload.after), [1, 4], 'one sync of two pages (the held 4 moved the cursor), no second sync')
})

t.test('channel messages from the live feed go through the same sequencer', async (t) => {
  const fake = new FakeTransport()
  serveLogs(fake, { 'c:abcdefghijkl': 0 })
  const { client } = await connected(t, {}, fake)
  const shown: string[] = []
  client.on('message', (m) => shown.push(m.id))
  fake.deliver('im/conv/c:abcdefghijkl', { type: 'message', msg: env('c:abcdefghijkl', 1) })
  fake.deliver('im/inbox/alice/c:abcdefghijkl', { type: 'message', msg: env('c:abcdefghijkl', 1) })
  fake.deliver('im/conv/c:abcdefghijkl', { type: 'message', msg: env('c:abcdefghijkl', 2) })
  t.same(shown, ['c:abcdefghijkl/1', 'c:abcdefghijkl/2'], 'the copy from the inbox too is dropped')
})

t.test('being added to a conversation syncs what is visible; a removal drops a channel feed', async (t) => {
  const fake = new FakeTransport()
  serveLogs(fake, {})
  const { client } = await connected(t, {}, fake)
  await client.sync()
  const shown: string[] = []
  client.on('message', (m) => shown.push(m.id))
  serveLogs(fake, { 'c:abcdefghijkl': 2 })
  fake.deliver('im/inbox/alice', { type: 'conversation', event: 'added', conv: 'c:abcdefghijkl', role: 'follower' })
  await tick()
  t.same(shown, ['c:abcdefghijkl/1', 'c:abcdefghijkl/2'])
  t.match(fake.subscriptions.at(-1), ['im/conv/c:abcdefghijkl'])
  fake.deliver('im/inbox/alice', { type: 'conversation', event: 'removed', conv: 'c:abcdefghijkl' })
  await tick()
  t.same(fake.unsubscriptions, [['im/conv/c:abcdefghijkl']])
})

t.test('watchPresence() reports the users the server refused and resubscribes the others on reconnect', async (t) => {
  const { client, fake } = await connected(t)
  fake.refuse.add('im/presence/mallory')
  t.same(await client.watchPresence(['bob', 'mallory']), { refused: ['mallory'] })
  fake.connectAgain()
  await tick()
  t.match(fake.subscriptions.at(-1), ['im/presence/bob'])
  await client.unwatchPresence(['bob'])
  t.same(fake.unsubscriptions.at(-1), ['im/presence/bob'])
})

t.test('a cursor store that fails to save is reported, and showing goes on', async (t) => {
  const fake = new FakeTransport()
  const { client, errors } = await connected(t, {
    store: { load: () => ({}), save: async () => { throw new Error('quota') } }
  }, fake)
  const shown: number[] = []
  client.on('message', (m) => shown.push(m.seq))
  fake.deliver(`im/inbox/alice/${DM}`, { type: 'message', msg: env(DM, 1) })
  await tick()
  t.same(shown, [1])
  t.match(errors, [{ code: 'HAIL_ERR_STORE' }])
})

t.test('one disconnect event per lost connection, however many reconnect attempts fail', async (t) => {
  const { client, fake } = await connected(t)
  let disconnects = 0
  client.on('disconnect', () => disconnects++)
  fake.dropConnection()
  fake.dropConnection()
  fake.dropConnection()
  t.equal(disconnects, 1)
  t.notOk(client.connected)
  fake.connectAgain()
  await tick()
  t.ok(client.connected)
  fake.dropConnection()
  t.equal(disconnects, 2)
})

t.test('a sent message whose live copy never comes is fetched by a sync after a grace period', async (t) => {
  const fake = new FakeTransport()
  const logs = { [DM]: 0 }
  serveLogs(fake, logs)
  const { client } = await connected(t, {}, fake)
  const shown: number[] = []
  client.on('message', (m) => shown.push(m.seq))
  const sending = client.text(DM, 'lost on the way back', { cid: 'lost' })
  await tick()
  logs[DM] = 1
  fake.reply({ type: 'sent', cid: 'lost', conv: DM, seq: 1, id: `${DM}/1`, ts: 1, duplicate: false })
  await sending
  t.same(shown, [])
  await new Promise((resolve) => setTimeout(resolve, 2300))
  t.same(shown, [1], 'synced, since nothing else would reveal the gap')
})

t.test('with sync.all the catch-up is one request, and a sync only for a conversation its page left unfinished', async (t) => {
  const fake = new FakeTransport()
  serveSyncAll(fake, { [DM]: 5, [GROUP]: 3, 'c:abcdefghijkl': 2 })
  const store = new MemoryCursorStore()
  store.save(DM, 2)
  store.save(GROUP, 3)
  const client = new HailClient({ user: 'alice', device: 'phone', transport: fake, store })
  t.teardown(() => client.close())
  const shown: string[] = []
  client.on('message', (m) => shown.push(m.id))
  const synced = new Promise<void>((resolve) => client.once('synced', resolve))
  await client.connect()
  await synced
  t.same(fake.requests('sync.all').map((r) => r.payload.after), [{ [DM]: 2, [GROUP]: 3 }], 'one sync.all with the saved cursors')
  t.equal(fake.requests('conversations').length, 0, 'no conversations request')
  t.same(shown.filter((id) => id.startsWith(DM)), [`${DM}/3`, `${DM}/4`, `${DM}/5`], 'DM from its cursor: the page, then the rest')
  t.same(shown.filter((id) => id.startsWith('c:')), ['c:abcdefghijkl/1', 'c:abcdefghijkl/2'], 'a new conversation from its page alone')
  t.same(fake.requests('sync').map((r) => [r.payload.conv, r.payload.after]), [[DM, 4]], 'a sync only where the page said more (pages of two here)')
})

t.test('a server without sync.all gets conversations and a sync each, and is not asked again', async (t) => {
  const fake = new FakeTransport()
  serveLogs(fake, { [DM]: 1 })
  const { client } = await connected(t, {}, fake)
  t.equal(fake.requests('sync.all').length, 1, 'asked once')
  t.equal(fake.requests('conversations').length, 1, 'then the list')
  const synced = new Promise<void>((resolve) => client.once('synced', resolve))
  fake.connectAgain()
  await synced
  t.equal(fake.requests('sync.all').length, 1, 'not asked again after a reconnect')
  t.equal(fake.requests('conversations').length, 2)
})
