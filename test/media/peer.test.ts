import t, { type Test } from 'tap'
import { MediaError, MediaServer, type Signal } from '../../media/index.js'
import { Device, until } from './device.js'

async function rejects (t: Test, p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  try {
    await p
    t.fail(`expected ${code}`)
  } catch (err) {
    t.ok(err instanceof MediaError && err.code === code && pattern.test(err.message), `${code}: ${(err as Error).message}`)
  }
}

t.test('bad signals to one peer reject with a clear MediaError while the call goes on', async (t) => {
  const server = new MediaServer({ portRange: { min: 43500, max: 43599 }, statsIntervalMs: 0 })
  t.teardown(() => server.close())
  const room = server.createRoom('bad')
  const a = new Device(room.addPeer('a/1'))
  const b = new Device(room.addPeer('b/1'))
  t.teardown(async () => { await a.close(); await b.close() })
  await a.offer()
  await b.offer()
  await a.sendUntil('audio', 'before', () => b.liveFrom('a/1').some((r) => r.payloads.includes('before')), 'media before')
  const pa = room.peer('a/1')!
  const good = a.pc.localDescription!.sdp
  await rejects(t, pa.signal({ type: 'offer', sdp: 'garbage' }), 'HAIL_ERR_SDP', /v=0/)
  await rejects(t, pa.signal({ type: 'offer', sdp: good + 'a=x:' + 'y'.repeat(70_000) + '\r\n' }), 'HAIL_ERR_SDP', /limit/)
  await rejects(t, pa.signal({ type: 'offer', sdp: good.replace(/a=ice-pwd:.*\r\n/g, '') }), 'HAIL_ERR_SDP', /ufrag\/pwd/)
  await rejects(t, pa.signal({ type: 'answer', sdp: good }), 'HAIL_ERR_SIGNAL_STATE', /answer without an offer/)
  await rejects(t, pa.signal({ type: 'candidate', candidate: { candidate: 'candidate:x 1 udp 1 evil 9 typ host' } }), 'HAIL_ERR_CANDIDATE', /not an IP address/)
  await rejects(t, pa.signal({ type: 'hello' } as unknown as Signal), 'HAIL_ERR_SIGNAL_STATE', /unknown signal type "hello"/)
  await rejects(t, pa.signal(null as unknown as Signal), 'HAIL_ERR_SIGNAL_STATE', /must be an object/)
  t.equal(pa.state, 'connected', 'the peer that sent garbage is still connected')
  await a.sendUntil('audio', 'after', () => b.liveFrom('a/1').some((r) => r.payloads.includes('after')), 'media after')
  await b.sendUntil('video', 'b-after', () => a.liveFrom('b/1').some((r) => r.payloads.includes('b-after')), 'other direction after')
  await pa.close()
  await rejects(t, pa.signal({ type: 'offer', sdp: good }), 'HAIL_ERR_SIGNAL_STATE', /closed/)
  t.equal(room.peers().length, 1, 'only the closed peer left the room')
})

t.test('a peer emits state changes and its server answer before any server offer', async (t) => {
  const server = new MediaServer({ portRange: { min: 43600, max: 43699 }, statsIntervalMs: 0 })
  t.teardown(() => server.close())
  const room = server.createRoom('order')
  const peer = room.addPeer('a/1')
  const states: string[] = []
  peer.on('state', (s) => states.push(s))
  const a = new Device(peer)
  t.teardown(() => a.close())
  t.equal(peer.state, 'new')
  await a.offer()
  await until(() => peer.state === 'connected', 'connected')
  t.same(states, ['connecting', 'connected'])
  t.equal(a.serverSignals[0]?.type, 'answer', 'the first server signal is the answer')
})
