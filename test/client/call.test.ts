import t, { type Test } from 'tap'
import { RTCPeerConnection } from 'werift'
import { HailClient, type PeerConnectionFactory, type PeerConnectionLike, type Call } from '../../client/index.js'
import { FakeTransport, type Published } from './fake-transport.js'

// The SDK's negotiation against a real werift endpoint standing in for the
// server's media relay; only the MQTT signaling is faked (FakeTransport).

const CALL_ID = 'abcdefghijklmnopqrstuvwx'
const tick = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }

/** werift on loopback only, and never asking its built-in public STUN server. */
function loopbackPeer (): RTCPeerConnection {
  const pc = new RTCPeerConnection({ iceServers: [], iceUseIpv6: false, iceInterfaceAddresses: { udp4: '127.0.0.1' }, iceAdditionalHostAddresses: ['127.0.0.1'] })
  const setLocal = pc.setLocalDescription.bind(pc)
  pc.setLocalDescription = (async (d?: Parameters<typeof setLocal>[0]) => {
    for (const transport of pc.iceTransports) (transport.connection as unknown as { stunServer: unknown }).stunServer = undefined
    return await setLocal(d)
  }) as typeof pc.setLocalDescription
  return pc
}

/** The device's factory: a werift peer that sends video. */
const deviceFactory = (made: RTCPeerConnection[]): PeerConnectionFactory => () => {
  const pc = loopbackPeer()
  pc.addTransceiver('video', { direction: 'sendrecv' })
  made.push(pc)
  return pc as unknown as PeerConnectionLike
}

async function connected (t: Test, fake = new FakeTransport()): Promise<{ client: HailClient, fake: FakeTransport }> {
  fake.handlers.conversations ??= () => ({ conversations: [] })
  const client = new HailClient({ user: 'alice', device: 'phone', transport: fake, timeout: 2000, logger: process.env.CALL_DEBUG ? (l, m, c) => console.error(l, m, c) : undefined })
  client.on('error', (err) => t.fail(`client error ${err.code}: ${err.message}`))
  client.calls.on('error', (err) => t.fail(`calls error ${err.code}: ${err.message}`))
  await client.connect()
  t.teardown(() => client.close())
  return { client, fake }
}

/** What the device published on the call's signal topic, in order. */
const signals = (fake: FakeTransport): Array<Published['payload']> => fake.published.filter((p) => p.topic === `im/call/${CALL_ID}/signal`).map((p) => p.payload)

async function waitFor (what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Only loopback candidates: werift also lists the machine's other addresses, which tests must not use. */
const loopbackOnly = (sdp: string): string => sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:') || l.includes(' 127.0.0.1 ')).join('\r\n')

/** The "server": answers the device's offer, takes its trickled candidates. */
async function serve (t: Test, fake: FakeTransport): Promise<RTCPeerConnection> {
  const server = loopbackPeer()
  t.teardown(() => server.close())
  await waitFor('the device offer', () => signals(fake).some((s) => s.type === 'offer'))
  const offer = signals(fake).find((s) => s.type === 'offer')
  await server.setRemoteDescription({ type: 'offer', sdp: loopbackOnly(offer.sdp) })
  await server.setLocalDescription(await server.createAnswer())
  fake.reply({ type: 'call.signal', callId: CALL_ID, signal: { type: 'answer', sdp: loopbackOnly(server.localDescription!.sdp) } })
  let used = 0
  const feed = setInterval(() => {
    const candidates = signals(fake).filter((s) => s.type === 'candidate')
    for (const c of candidates.slice(used)) {
      if (c.candidate.candidate.includes(' 127.0.0.1 ')) void server.addIceCandidate(c.candidate).catch(() => {})
    }
    used = candidates.length
  }, 20)
  t.teardown(() => clearInterval(feed))
  return server
}

t.test('place() invites and offers first; the call is active once the media connects and someone accepted', async (t) => {
  const { client, fake } = await connected(t)
  fake.handlers['call.invite'] = (args) => {
    t.same({ to: args.to, media: args.media, mode: args.mode }, { to: 'bob', media: { audio: false, video: true }, mode: 'sfu' })
    return { callId: CALL_ID, conv: 'd:alice:bob', mode: 'sfu', iceServers: [] }
  }
  const made: RTCPeerConnection[] = []
  const call = await client.calls.place({ to: 'bob', media: { audio: false, video: true }, peer: deviceFactory(made) })
  t.equal(call.state, 'ringing')
  t.equal(signals(fake)[0]?.type, 'offer', 'the first signal is the device\'s offer')
  t.ok(fake.subscriptions.some((s) => s.includes(`im/call/${CALL_ID}/stats`)), 'subscribes to the call\'s live figures')
  const connectedEvent = new Promise<void>((resolve) => call.once('connected', resolve))
  await serve(t, fake)
  await connectedEvent
  t.equal(call.state, 'ringing', 'media to the relay is up, but nobody answered yet')
  fake.deliver('im/inbox/alice', { type: 'call', event: 'accepted', callId: CALL_ID, conv: 'd:alice:bob', from: 'alice', media: { audio: false, video: true }, mode: 'sfu', by: 'bob/laptop' })
  await waitFor('the call to be active', () => call.state === 'active')
  t.equal(call.state, 'active')
  t.ok(signals(fake).some((s) => s.type === 'candidate'), 'the device trickled candidates on the signal topic')
  const stats = await call.localStats()
  t.ok(stats.tracks.some((track) => track.kind === 'video' && track.direction === 'out'), 'localStats() lists the outgoing video stream')
})

t.test('a later server offer is answered on the signal topic and its tracks reach the app', async (t) => {
  const { client, fake } = await connected(t)
  fake.handlers['call.invite'] = () => ({ callId: CALL_ID, conv: 'g:group', mode: 'sfu', iceServers: [] })
  const call = await client.calls.place({ conv: 'g:group', peer: deviceFactory([]) })
  const server = await serve(t, fake)
  await new Promise<void>((resolve) => call.once('connected', resolve))
  // Another participant's video: the server adds a track and offers.
  server.addTransceiver('video', { direction: 'sendonly' })
  await server.setLocalDescription(await server.createOffer())
  const offer = server.localDescription!
  const tracks: unknown[] = []
  call.on('track', ({ track }) => tracks.push(track))
  fake.reply({ type: 'call.signal', callId: CALL_ID, signal: { type: 'offer', sdp: loopbackOnly(offer.sdp) } })
  await waitFor('the device answer', () => signals(fake).filter((s) => s.type === 'answer').length === 1)
  const answer = signals(fake).find((s) => s.type === 'answer')
  await server.setRemoteDescription({ type: 'answer', sdp: loopbackOnly(answer.sdp) })
  t.equal(server.signalingState, 'stable', 'the server\'s offer/answer completed')
  await waitFor('a remote track', () => tracks.length > 0)
  t.ok(tracks.length > 0, 'the new track was reported')
})

t.test('an incoming call rings, answer() accepts and offers, the remote hangup ends it', async (t) => {
  const { client, fake } = await connected(t)
  fake.handlers['call.accept'] = (args) => ({ callId: args.callId, mode: 'sfu', iceServers: [] })
  const incoming = new Promise<Call>((resolve) => client.calls.once('incoming', resolve))
  fake.deliver('im/inbox/alice', { type: 'call', event: 'ring', callId: CALL_ID, conv: 'd:alice:bob', from: 'bob', media: { audio: false, video: true }, mode: 'sfu' })
  const call = await incoming
  t.equal(call.state, 'incoming')
  t.equal(call.from, 'bob')
  t.same(call.media, { audio: false, video: true })
  await call.answer({ peer: deviceFactory([]) })
  t.equal(fake.requests('call.accept').length, 1)
  t.equal(signals(fake)[0]?.type, 'offer', 'the answering device offers to the server')
  const ended = new Promise<{ reason: string, by?: string }>((resolve) => call.once('ended', resolve))
  fake.deliver('im/inbox/alice', { type: 'call', event: 'ended', callId: CALL_ID, conv: 'd:alice:bob', from: 'bob', media: { audio: false, video: true }, mode: 'sfu', by: 'bob/laptop', reason: 'hangup' })
  t.same(await ended, { reason: 'hangup', by: 'bob/laptop' })
  t.equal(call.state, 'ended')
  t.equal(client.calls.call(CALL_ID), undefined, 'the manager forgets an ended call')
})

t.test('another device of the same user answering ends the ringing here as answered-elsewhere', async (t) => {
  const { client, fake } = await connected(t)
  const incoming = new Promise<Call>((resolve) => client.calls.once('incoming', resolve))
  const notice = { type: 'call', callId: CALL_ID, conv: 'd:alice:bob', from: 'bob', media: { audio: true, video: false }, mode: 'sfu' }
  fake.deliver('im/inbox/alice', { ...notice, event: 'ring' })
  const call = await incoming
  const elsewhere = new Promise<unknown>((resolve) => call.once('answered-elsewhere', resolve))
  const ended = new Promise<{ reason: string }>((resolve) => call.once('ended', resolve))
  fake.deliver('im/inbox/alice', { ...notice, event: 'answered-elsewhere', by: 'alice/laptop' })
  t.same(await elsewhere, { by: 'alice/laptop' })
  t.equal((await ended).reason, 'answered-elsewhere')
  await t.rejects(call.answer({ peer: deviceFactory([]) }), { code: 'HAIL_ERR_BAD_ARGUMENT' }, 'it can no longer be answered')
})

t.test('reject() sends call.reject and ends the call here', async (t) => {
  const { client, fake } = await connected(t)
  fake.handlers['call.reject'] = () => ({})
  const incoming = new Promise<Call>((resolve) => client.calls.once('incoming', resolve))
  fake.deliver('im/inbox/alice', { type: 'call', event: 'ring', callId: CALL_ID, conv: 'd:alice:bob', from: 'bob', media: { audio: true, video: false }, mode: 'sfu' })
  const call = await incoming
  await call.reject()
  t.same(fake.requests('call.reject').map((p) => p.payload.callId), [CALL_ID])
  t.equal(call.state, 'ended')
})

t.test('a refused invite rejects place() with the server\'s code and leaves no call behind', async (t) => {
  const { client, fake } = await connected(t)
  fake.handlers['call.invite'] = () => { throw Object.assign(new Error('bob is busy'), { code: 'HAIL_ERR_BUSY' }) }
  await t.rejects(client.calls.place({ to: 'bob', peer: deviceFactory([]) }), { code: 'HAIL_ERR_BUSY' })
  t.same(client.calls.calls, [])
  await t.rejects(client.calls.place({ peer: deviceFactory([]) }), { code: 'HAIL_ERR_BAD_ARGUMENT' }, 'needs to or conv')
  await t.rejects(client.calls.place({ to: 'bo/b', peer: deviceFactory([]) }), { code: 'HAIL_ERR_BAD_ARGUMENT' })
  await t.rejects(client.calls.place({ to: 'bob', conv: 'g:x', peer: deviceFactory([]) }), { code: 'HAIL_ERR_BAD_ARGUMENT' })
})

t.test('p2p: the caller offers only once a device accepted', async (t) => {
  const { client, fake } = await connected(t)
  fake.handlers['call.invite'] = () => ({ callId: CALL_ID, conv: 'd:alice:bob', mode: 'p2p', iceServers: [] })
  const call = await client.calls.place({ to: 'bob', mode: 'p2p', peer: deviceFactory([]) })
  await tick()
  t.same(signals(fake), [], 'nothing is sent while it rings')
  fake.deliver('im/inbox/alice', { type: 'call', event: 'accepted', callId: CALL_ID, conv: 'd:alice:bob', from: 'alice', media: { audio: true, video: true }, mode: 'p2p', by: 'bob/laptop' })
  await waitFor('the caller offer', () => signals(fake).some((s) => s.type === 'offer'))
  t.equal(call.state, 'connecting')
  t.ok(call.participants.has('bob/laptop'))
})

t.test('garbage call payloads are reported as HAIL_ERR_BAD_PAYLOAD and the client goes on', async (t) => {
  const fake = new FakeTransport()
  fake.handlers.conversations = () => ({ conversations: [] })
  const client = new HailClient({ user: 'alice', device: 'phone', transport: fake, timeout: 2000 })
  const errors: string[] = []
  client.calls.on('error', (err) => errors.push(err.code))
  await client.connect()
  t.teardown(() => client.close())
  fake.reply({ type: 'call.signal', callId: CALL_ID, signal: { type: 'offer' } })
  fake.deliver('im/inbox/alice', { type: 'call', event: 'explode', callId: CALL_ID, conv: 'd:alice:bob', from: 'bob' })
  fake.deliver('im/inbox/alice', { type: 'call' })
  // A signal for a call this device does not have is dropped quietly.
  fake.reply({ type: 'call.signal', callId: 'zzzzzzzzzzzzzzzzzzzzzzzz', signal: { type: 'answer', sdp: 'v=0' } })
  // Inbox events are held until the client goes live (a timer), replies are not: wait for all three.
  await waitFor('three reports', () => errors.length >= 3)
  await tick()
  t.same(errors, ['HAIL_ERR_BAD_PAYLOAD', 'HAIL_ERR_BAD_PAYLOAD', 'HAIL_ERR_BAD_PAYLOAD'])
  fake.handlers.read = () => ({ conv: 'd:alice:bob', read: 3 })
  t.equal(await client.markRead('d:alice:bob', 3), 3, 'requests still work')
})

t.test('a signal the server refuses comes back as that call\'s error, not the client\'s', async (t) => {
  const fake = new FakeTransport()
  fake.handlers.conversations = () => ({ conversations: [] })
  fake.handlers['call.invite'] = () => ({ callId: CALL_ID, conv: 'd:alice:bob', mode: 'sfu', iceServers: [] })
  const client = new HailClient({ user: 'alice', device: 'phone', transport: fake, timeout: 2000 })
  const clientErrors: string[] = []
  client.on('error', (err) => clientErrors.push(err.code))
  await client.connect()
  t.teardown(() => client.close())
  const call = await client.calls.place({ to: 'bob', peer: deviceFactory([]) })
  const callError = new Promise<{ code: string, ref: string | undefined }>((resolve) => call.once('error', resolve))
  fake.reply({ type: 'error', ref: CALL_ID, error: { code: 'HAIL_ERR_SDP', message: 'SDP has no m= line' } })
  const err = await callError
  t.equal(err.code, 'HAIL_ERR_SDP')
  t.equal(err.ref, CALL_ID)
  await tick()
  t.same(clientErrors, [], 'the client\'s own error event stays quiet')
})
