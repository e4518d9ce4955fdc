import t from 'tap'
import mqtt from 'mqtt'
import { callErrors, callEvents, callServer, PASSWORD, RawDevice, refused, waitCallEvent, waitCallRecord } from '../helpers/call-server.js'
import { waitFor } from '../helpers/wait-for.js'

const audio = { audio: true, video: false }
const offer = { type: 'offer', sdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' }

/** The QoS a SUBSCRIBE was granted; mqtt.js rejects a 0x80 with "Unspecified error". */
async function granted (d: RawDevice, filter: string): Promise<number> {
  try {
    return (await d.client.subscribeAsync(filter, { qos: 1 }))[0]!.qos
  } catch (err) {
    if (/Unspecified error/.test((err as Error).message)) return 128
    throw err
  }
}

async function signal (d: RawDevice, callId: string, s: unknown): Promise<void> {
  await d.client.publishAsync(`im/call/${callId}/signal`, typeof s === 'string' ? s : JSON.stringify(s), { qos: 1 })
}

t.test('an invite rings every device of the callee; the first accept wins, the others hear answered-elsewhere', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const alicePc = await RawDevice.connect(t, port, 'alice', 'pc')
  const bobPhone = await RawDevice.connect(t, port, 'bob', 'phone')
  const bobPc = await RawDevice.connect(t, port, 'bob', 'pc')
  const placed = await alice.request('call.invite', { to: 'bob', media: audio, mode: 'p2p' })
  t.match(placed, { callId: /^[a-z2-7]{24}$/, conv: 'd:alice:bob', mode: 'p2p', iceServers: [] })
  const ring = await waitCallEvent(bobPhone, placed.callId, 'ring')
  await waitCallEvent(bobPc, placed.callId, 'ring')
  t.match(ring, { v: 2, type: 'call', from: 'alice', conv: 'd:alice:bob', media: audio, mode: 'p2p' })

  t.match(await bobPc.request('call.accept', { callId: placed.callId }), { callId: placed.callId, mode: 'p2p' })
  t.match(await waitCallEvent(alice, placed.callId, 'accepted'), { by: 'bob/pc' })
  t.match(await waitCallEvent(alicePc, placed.callId, 'accepted'), { by: 'bob/pc' }, 'the caller\'s other devices learn it too')
  t.match(await waitCallEvent(bobPhone, placed.callId, 'answered-elsewhere'), { by: 'bob/pc' })
  t.equal(await refused(bobPhone, 'call.accept', { callId: placed.callId }), 'HAIL_ERR_CALL_STATE', 'the second device is too late')
})

t.test('p2p relays signals between the two devices in the call, with their sender', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const { callId } = await alice.request('call.invite', { to: 'bob', media: audio, mode: 'p2p' })
  await signal(alice, callId, offer)
  await waitFor(() => callErrors(alice, callId).length > 0, 'an error before anyone accepted')
  t.equal(callErrors(alice, callId)[0].error.code, 'HAIL_ERR_CALL_STATE')
  await bob.request('call.accept', { callId })
  await signal(alice, callId, offer)
  await waitFor(() => bob.of('call.signal').length > 0, 'the offer at bob')
  t.match(bob.of('call.signal')[0], { callId, from: 'alice/phone', signal: offer })
  await signal(bob, callId, { type: 'candidate', candidate: { candidate: 'candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 } })
  await waitFor(() => alice.of('call.signal').length > 0, 'the candidate at alice')
  t.equal(alice.of('call.signal')[0].from, 'bob/phone')
})

t.test('strangers cannot subscribe to or publish on a call\'s topics', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob', 'mallory'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const mallory = await RawDevice.connect(t, port, 'mallory', 'laptop')
  const { callId } = await alice.request('call.invite', { to: 'bob', media: audio, mode: 'p2p' })
  await bob.request('call.accept', { callId })

  for (const filter of [`im/call/${callId}/signal`, `im/call/${callId}/stats`, `im/call/${callId}/#`, 'im/call/#', 'im/call/+/signal']) {
    t.equal(await granted(mallory, filter), 128, `SUBACK 0x80 for ${filter}`)
  }
  t.equal(await granted(alice, `im/call/${callId}/stats`), 1, 'a party may subscribe to the stats')
  t.equal(await granted(bob, `im/call/${callId}/#`), 1, 'and to all of its call\'s topics')
  t.equal(await refused(mallory, 'call.accept', { callId }), 'HAIL_ERR_CALL_NOT_FOUND')
  t.equal(await refused(mallory, 'call.hangup', { callId }), 'HAIL_ERR_CALL_NOT_FOUND')
  t.equal(await refused(mallory, 'call.join', { callId }), 'HAIL_ERR_CALL_NOT_FOUND')

  await signal(mallory, callId, { type: 'offer', sdp: 'v=0\r\nfrom mallory\r\n' })
  await signal(alice, callId, offer)
  await waitFor(() => bob.of('call.signal').length > 0, 'alice\'s offer at bob')
  t.equal(bob.of('call.signal').length, 1, 'mallory\'s publish was dropped')
  t.same(bob.of('call.signal')[0].signal, offer)
  // Answered as if there were no such call: the same as for a call id nobody placed (issue 19).
  await waitFor(() => callErrors(mallory, callId).length > 0, 'mallory\'s answer')
  t.same(callErrors(mallory, callId).map((e) => e.error.code), ['HAIL_ERR_CALL_NOT_FOUND'], 'a stranger\'s signal is answered "no such call", nothing more')
})

t.test('hangup ends the call for both sides and appends a call record to the conversation', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const { callId } = await alice.request('call.invite', { to: 'bob', media: audio, mode: 'p2p' })
  await bob.request('call.accept', { callId })
  t.same(await bob.request('call.hangup', { callId }), { callId })
  t.match(await waitCallEvent(alice, callId, 'ended'), { by: 'bob/phone', reason: 'hangup' })
  const record = await waitCallRecord(alice, callId)
  t.match(record, { conv: 'd:alice:bob', from: 'alice', device: 'phone', kind: 'call' })
  t.match(record.body, { callId, mode: 'p2p', media: audio, reason: 'hangup', quality: null })
  t.ok(record.body.answeredAt >= record.body.startedAt && record.body.endedAt >= record.body.answeredAt)
  t.same(record.body.participants.map((p: any) => p.device).sort(), ['alice/phone', 'bob/phone'])
  const history = await bob.request('sync', { conv: 'd:alice:bob', after: 0 })
  t.ok(history.messages.some((m: any) => m.kind === 'call' && m.body.callId === callId), 'the record is in the log for sync')
  t.equal(await refused(alice, 'call.hangup', { callId }), 'HAIL_ERR_CALL_NOT_FOUND', 'an ended call is gone')
})

t.test('reject and cancel end a ringing call with their reason', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const first = await alice.request('call.invite', { to: 'bob', media: audio })
  await bob.request('call.reject', { callId: first.callId })
  t.match(await waitCallEvent(alice, first.callId, 'rejected'), { by: 'bob/phone' })
  t.equal((await waitCallRecord(bob, first.callId)).body.reason, 'rejected')
  const second = await alice.request('call.invite', { to: 'bob', media: audio })
  await alice.request('call.hangup', { callId: second.callId })
  await waitCallEvent(bob, second.callId, 'cancelled')
  t.equal((await waitCallRecord(bob, second.callId)).body.reason, 'cancelled')
  // The record comes after the final event: had an 'ended' followed, it would be here by now.
  await waitCallRecord(alice, second.callId)
  for (const d of [alice, bob]) t.same(callEvents(d, undefined, 'ended'), [], `${d.user}: rejected and cancelled are final, no 'ended' follows`)
})

t.test('an unanswered call is missed when the ring timeout passes', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob'], { calls: { ringTimeoutMs: 300 } })
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const { callId } = await alice.request('call.invite', { to: 'bob', media: audio })
  await waitCallEvent(bob, callId, 'missed')
  await waitCallEvent(alice, callId, 'missed')
  const record = await waitCallRecord(bob, callId)
  t.match(record.body, { reason: 'missed', mode: 'sfu' })
  t.same(record.body.quality, { tracks: [] }, 'an sfu call nobody answered has no track figures')
  await waitCallRecord(alice, callId)
  t.same(callEvents(alice, callId, 'ended'), [], 'missed is final')
})

t.test('refused invites count toward the invite limit', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob'], { calls: { invitesPerMinute: 1, inviteBurst: 2 } })
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  t.equal(await refused(alice, 'call.invite', { to: 'nobody', media: audio }), 'HAIL_ERR_NOT_FOUND')
  t.equal(await refused(alice, 'call.invite', { to: 'alice', media: audio }), 'HAIL_ERR_BAD_REQUEST')
  t.equal(await refused(alice, 'call.invite', { to: 'bob', media: audio }), 'HAIL_ERR_RATE_LIMITED', 'the burst went on the refused ones')
})

t.test('a callee in another call is busy: the caller gets HAIL_ERR_BUSY and a record says so', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob', 'carol'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const carol = await RawDevice.connect(t, port, 'carol', 'phone')
  const { callId } = await alice.request('call.invite', { to: 'bob', media: audio, mode: 'p2p' })
  await bob.request('call.accept', { callId })
  t.equal(await refused(carol, 'call.invite', { to: 'bob', media: audio }), 'HAIL_ERR_BUSY')
  const record = await waitCallRecord(carol, (await waitFor(() => carol.messages().some((m) => m.kind === 'call'), 'busy record'), carol.messages().find((m) => m.kind === 'call').body.callId))
  t.match(record, { conv: 'd:bob:carol', body: { reason: 'busy' } })
  t.equal(await refused(alice, 'call.invite', { to: 'carol', media: audio }), 'HAIL_ERR_BUSY', 'a caller already in a call is busy too')
  t.equal(bob.of('call').filter((e) => e.event === 'ring' && e.callId !== callId).length, 0, 'a busy callee is not rung')
})

t.test('invites published back to back by one device place one call: the rest are HAIL_ERR_BUSY and the callee rings once', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob'], { calls: { invitesPerMinute: 60, inviteBurst: 20 } })
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const codes = await Promise.all(Array.from({ length: 20 }, async () => {
    try {
      await alice.request('call.invite', { to: 'bob', media: audio })
      return 'ok'
    } catch (err) {
      return (err as { code: string }).code
    }
  }))
  t.same(codes.filter((c) => c === 'ok').length, 1, `one call placed: ${codes.join(',')}`)
  t.ok(codes.every((c) => c === 'ok' || c === 'HAIL_ERR_BUSY'), 'the others are busy, not rate-limited')
  await waitCallEvent(bob, alice.of('result').find((r) => r.ok === true).result.callId, 'ring')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(callEvents(bob, undefined, 'ring').length, 1, 'the callee rings once')
})

t.test('a device that vanishes ends its call as disconnected', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const { callId } = await alice.request('call.invite', { to: 'bob', media: audio, mode: 'p2p' })
  await bob.request('call.accept', { callId })
  ;(bob.client.stream as unknown as { destroy: () => void }).destroy()
  t.match(await waitCallEvent(alice, callId, 'ended'), { by: 'bob/phone', reason: 'disconnected' })
  t.equal((await waitCallRecord(alice, callId)).body.reason, 'disconnected')
})

t.test('a new connection with the same client id takes over and ends the old one\'s call', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const { callId } = await alice.request('call.invite', { to: 'bob', media: audio, mode: 'p2p' })
  await bob.request('call.accept', { callId })
  const again = await RawDevice.connect(t, port, 'bob', 'phone')
  t.match(await waitCallEvent(alice, callId, 'ended'), { by: 'bob/phone', reason: 'disconnected' })
  t.equal(await refused(again, 'call.hangup', { callId }), 'HAIL_ERR_CALL_NOT_FOUND', 'the new connection is not in the old call')
})

t.test('keepalive expiry of a silent device ends its call', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  // keepalive 1 s and no pings: the broker gives up after 1.5 s of silence [MQTT-3.1.2-24].
  const silent = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'bob/watch', username: 'bob', password: PASSWORD, keepalive: 1, reconnectPeriod: 0, clean: true })
  t.teardown(() => { silent.end(true) })
  const req = 'k1'
  const replies: any[] = []
  silent.on('message', (_topic, payload) => replies.push(JSON.parse(payload.toString())))
  await silent.subscribeAsync('im/reply/bob/watch', { qos: 1 })
  const { callId } = await alice.request('call.invite', { to: 'bob', media: audio, mode: 'p2p' })
  await silent.publishAsync('im/cmd/call.accept', JSON.stringify({ req, callId }), { qos: 1 })
  await waitFor(() => replies.some((r) => r.req === req && r.ok === true), 'accept by the watch')
  // Stop the client's pings without closing its socket.
  ;(silent as unknown as { _shiftPingInterval?: () => void, pingTimer?: { clear: () => void }, keepaliveManager?: { destroy: () => void } }).keepaliveManager?.destroy()
  ;(silent as unknown as { pingTimer?: { clear: () => void } }).pingTimer?.clear()
  t.match(await waitCallEvent(alice, callId, 'ended', 20_000), { by: 'bob/watch', reason: 'disconnected' })
})

t.test('garbage signals get clear errors on the sender\'s reply topic and the call goes on', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const { callId } = await alice.request('call.invite', { to: 'bob', media: audio, mode: 'p2p' })
  await bob.request('call.accept', { callId })
  const cases: Array<[string, unknown, string]> = [
    ['not JSON', 'v=0 this is not json {', 'HAIL_ERR_BAD_REQUEST'],
    ['an unknown type', { type: 'bye' }, 'HAIL_ERR_BAD_REQUEST'],
    ['an SDP over 64 KiB', { type: 'offer', sdp: 'a'.repeat(64 * 1024 + 10) }, 'HAIL_ERR_SDP'],
    ['a payload far over the limit', { type: 'offer', sdp: 'a'.repeat(200 * 1024) }, 'HAIL_ERR_TOO_LARGE'],
    ['an SDP with NUL bytes', { type: 'offer', sdp: 'v=0\u0000' }, 'HAIL_ERR_SDP'],
    ['a candidate that is not an object', { type: 'candidate', candidate: 'x' }, 'HAIL_ERR_CANDIDATE'],
    ['a candidate with a bad line index', { type: 'candidate', candidate: { candidate: 'candidate:1', sdpMLineIndex: -1 } }, 'HAIL_ERR_CANDIDATE'],
    ['extra keys', { type: 'answer', sdp: 'v=0', extra: 1 }, 'HAIL_ERR_BAD_REQUEST']
  ]
  for (const [what, payload, code] of cases) {
    const before = callErrors(alice, callId).length
    await signal(alice, callId, payload)
    await waitFor(() => callErrors(alice, callId).length > before, `error for ${what}`)
    t.equal(callErrors(alice, callId)[before].error.code, code, what)
  }
  t.equal(bob.of('call.signal').length, 0, 'nothing bad reached the other device')
  await signal(alice, callId, offer)
  await waitFor(() => bob.of('call.signal').length === 1, 'a good signal still goes through')
  t.ok(alice.client.connected, 'the sender stays connected')
})

t.test('invite floods are rate-limited per caller; other calls are unaffected', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob', 'carol', 'dave'], { calls: { invitesPerMinute: 1, inviteBurst: 3 } })
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const carol = await RawDevice.connect(t, port, 'carol', 'phone')
  const dave = await RawDevice.connect(t, port, 'dave', 'phone')
  const running = await carol.request('call.invite', { to: 'dave', media: audio, mode: 'p2p' })
  await dave.request('call.accept', { callId: running.callId })
  const codes: string[] = []
  for (let i = 0; i < 20; i++) {
    try {
      const { callId } = await alice.request('call.invite', { to: 'bob', media: audio })
      codes.push('ok')
      await alice.request('call.hangup', { callId })
    } catch (err) {
      codes.push((err as { code: string }).code)
    }
  }
  t.same(codes.slice(0, 3), ['ok', 'ok', 'ok'])
  t.ok(codes.slice(3).every((c) => c === 'HAIL_ERR_RATE_LIMITED'), `then limited: ${codes.join(',')}`)
  const bobs = await bob.request('call.invite', { to: 'alice', media: audio })
  t.ok(bobs.callId, 'the limit is per caller')
  await signal(carol, running.callId, offer)
  await waitFor(() => dave.of('call.signal').length === 1, 'the running call still relays')
})

t.test('bad call requests get error replies', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  t.equal(await refused(alice, 'call.invite', { media: audio }), 'HAIL_ERR_BAD_REQUEST', 'neither to nor conv')
  t.equal(await refused(alice, 'call.invite', { to: 'bob', media: { audio: false, video: false } }), 'HAIL_ERR_BAD_REQUEST', 'no media')
  t.equal(await refused(alice, 'call.invite', { to: 'alice', media: audio }), 'HAIL_ERR_BAD_REQUEST', 'oneself')
  t.equal(await refused(alice, 'call.invite', { to: 'nobody', media: audio }), 'HAIL_ERR_NOT_FOUND', 'an unknown user')
  t.equal(await refused(alice, 'call.invite', { conv: 'g:aaaaaaaaaaaa', media: audio }), 'HAIL_ERR_NOT_MEMBER', 'a group one is not in')
  t.equal(await refused(alice, 'call.accept', { callId: 'nope' }), 'HAIL_ERR_BAD_REQUEST', 'not a call id')
  t.equal(await refused(alice, 'call.accept', { callId: 'a'.repeat(24) }), 'HAIL_ERR_CALL_NOT_FOUND')
})

t.test('group call: ring every other member, join, leave, and the last out ends it', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob', 'carol', 'dave'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const carol = await RawDevice.connect(t, port, 'carol', 'phone')
  const dave = await RawDevice.connect(t, port, 'dave', 'phone')
  const { conv } = await alice.request('group.create', { name: 'team', members: ['bob', 'carol', 'dave'] })
  t.equal(await refused(alice, 'call.invite', { conv, media: audio, mode: 'p2p' }), 'HAIL_ERR_BAD_REQUEST', 'p2p is 1:1 only')
  const { callId } = await alice.request('call.invite', { conv, media: audio })
  for (const d of [bob, carol, dave]) await waitCallEvent(d, callId, 'ring')
  await bob.request('call.accept', { callId })
  await carol.request('call.reject', { callId })
  await waitCallEvent(alice, callId, 'rejected')
  await dave.request('call.join', { callId })
  t.match(await waitCallEvent(bob, callId, 'joined'), { by: 'dave/phone' })
  await alice.request('call.hangup', { callId })
  t.match(await waitCallEvent(dave, callId, 'left'), { by: 'alice/phone' })
  await carol.request('call.join', { callId })
  await waitFor(() => callEvents(dave, callId, 'joined').some((e) => e.by === 'carol/phone'), 'carol joined after all')
  await bob.request('call.hangup', { callId })
  await dave.request('call.hangup', { callId })
  t.equal(callEvents(carol, callId, 'ended').length, 0, 'the call runs while carol is in')
  await carol.request('call.hangup', { callId })
  t.match(await waitCallEvent(alice, callId, 'ended'), { by: 'carol/phone' })
  const record = await waitCallRecord(alice, callId)
  t.equal(record.conv, conv)
  t.same([...new Set(record.body.participants.map((p: any) => p.device))].sort(), ['alice/phone', 'bob/phone', 'carol/phone', 'dave/phone'])
})
