import t, { type Test } from 'tap'
import { useAbsSendTime, useAudioLevelIndication, useSdesMid } from 'werift'
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

/** Per m-line: the extmap lines of an SDP as [uri, id] pairs. */
function extmaps (sdp: string): Array<Array<[string, number]>> {
  const sections = sdp.split(/\r\n(?=m=)/).slice(1)
  return sections.map((m) => [...m.matchAll(/^a=extmap:(\d+)(?:\/\w+)? (\S+)/gm)].map((x) => [x[2]!, Number(x[1])] as [string, number]))
}

t.test('a server renegotiation offer reuses the header-extension ids the device chose for the same URIs', async (t) => {
  // Chromium's numbering, different from werift's own (sdes:mid 1, abs-send-time 3)
  const chromeIds: Record<string, number> = {
    'urn:ietf:params:rtp-hdrext:ssrc-audio-level': 1,
    'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time': 2,
    'urn:ietf:params:rtp-hdrext:sdes:mid': 4
  }
  const munge = (sdp: string): string => sdp.replace(/^a=extmap:\d+(\/\w+)? (\S+)/gm, (line, dir: string | undefined, uri: string) =>
    chromeIds[uri] === undefined ? line : `a=extmap:${chromeIds[uri]}${dir ?? ''} ${uri}`)
  const server = new MediaServer({ portRange: { min: 43700, max: 43799 }, statsIntervalMs: 0 })
  t.teardown(() => server.close())
  const room = server.createRoom('extmap')
  const a = new Device(room.addPeer('a/1'), {
    headerExtensions: { audio: [useSdesMid(), useAudioLevelIndication()], video: [useSdesMid(), useAbsSendTime()] },
    mungeOffer: munge
  })
  const b = new Device(room.addPeer('b/1'))
  t.teardown(async () => { await a.close(); await b.close() })
  await a.offer()
  const sent = extmaps(munge(a.pc.localDescription!.sdp))
  t.ok(sent.flat().some(([uri]) => uri.endsWith('sdes:mid')), 'the device offered header extensions')
  await until(() => room.peer('a/1')!.state === 'connected', 'a connected')
  await b.offer() // b joins: a gets b's tracks in a server offer
  await until(() => a.serverSignals.some((s) => s.type === 'offer'), 'server offer to a')
  const offer = a.serverSignals.find((s) => s.type === 'offer') as { sdp: string }
  const lines = extmaps(offer.sdp)
  t.ok(lines.length >= 4, `the offer has the device's 2 m-lines and b's (${lines.length})`)
  const byUri = new Map<string, Set<number>>()
  const byId = new Map<number, Set<string>>()
  for (const [uri, id] of lines.flat()) {
    byUri.set(uri, (byUri.get(uri) ?? new Set()).add(id))
    byId.set(id, (byId.get(id) ?? new Set()).add(uri))
  }
  for (const [uri, ids] of byUri) {
    t.same([...ids], [chromeIds[uri]], `${uri} has one id across the BUNDLE, the device's`)
  }
  for (const [id, uris] of byId) t.equal(uris.size, 1, `id ${id} names one URI`)
  for (const m of lines.slice(2)) {
    t.ok(m.some(([uri, id]) => uri.endsWith('sdes:mid') && id === 4), 'an added m-line carries sdes:mid with the device\'s id')
  }
  // and media still flows on the re-numbered m-lines
  await b.sendUntil('video', 'b-video', () => a.liveFrom('b/1').some((r) => r.kind === 'video' && r.payloads.includes('b-video')), 'b video at a')
  t.pass('b\'s video reached a')
})
