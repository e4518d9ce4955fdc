import t, { type Test } from 'tap'
import { GenericNack, PictureLossIndication, RtcpPayloadSpecificFeedback, RtcpTransportLayerFeedback, type RTCRtpTransceiver } from 'werift'
import { MediaServer, type Room } from '../../media/index.js'
import { overload } from '../../media/video-gate.js'
import { Device, until } from './device.js'

// Keyframe requests and REMB here, not the overload policy (video-gate.test.ts):
// a call's set-up in this one busy process must not shed video (and ask for
// keyframes, and halve the REMB) on a shared machine.
const control = overload.control
overload.control = () => {}
t.teardown(() => { overload.control = control })

async function call (t: Test, min: number, maxVideoBitrateKbps?: number): Promise<{ room: Room, a: Device, b: Device }> {
  const server = new MediaServer({ portRange: { min, max: min + 99 }, statsIntervalMs: 0, maxVideoBitrateKbps })
  t.teardown(() => server.close())
  const room = server.createRoom('fwd')
  const a = new Device(room.addPeer('a/1'))
  const b = new Device(room.addPeer('b/1'))
  t.teardown(async () => { await a.close(); await b.close() })
  await a.offer()
  await b.offer()
  await until(() => b.liveFrom('a/1').some((r) => r.kind === 'video'), 'b subscribed to a video')
  await a.sendUntil('video', 'hello', () => b.liveFrom('a/1').some((r) => r.payloads.includes('hello')), 'first video at b')
  return { room, a, b }
}

function ownVideo (d: Device): RTCRtpTransceiver {
  return d.pc.getTransceivers().find((tr) => tr.sender.track === d.tracks.video)!
}

function plisAt (d: Device): () => number {
  let n = 0
  ownVideo(d).sender.onPictureLossIndication.subscribe(() => { n++ })
  return () => n
}

t.test('a subscriber whose transport connects makes the SFU send one PLI to the video sender', async (t) => {
  const { room, a } = await call(t, 43000)
  await until(() => room.stats().peers.find((p) => p.peerId === 'b/1')!.tracks.some((tr) => tr.direction === 'out' && tr.kind === 'video' && tr.pli === 1), 'first-frame PLI')
  const out = room.stats().peers.find((p) => p.peerId === 'b/1')!.tracks.find((tr) => tr.direction === 'out' && tr.kind === 'video')!
  t.equal(out.pli, 1, 'exactly one keyframe request on connect')
  const audio = room.stats().peers.find((p) => p.peerId === 'b/1')!.tracks.find((tr) => tr.direction === 'out' && tr.kind === 'audio')!
  t.equal(audio.pli, 0, 'no PLI for audio')
  const sent = async () => {
    const report = await ownVideo(a).sender.getStats()
    return [...report.values()].find((s) => s.type === 'outbound-rtp') as { pliCount?: number } | undefined
  }
  let pliCount = 0
  await until(() => { void sent().then((s) => { pliCount = s?.pliCount ?? 0 }); return pliCount >= 1 }, 'the PLI at the sending device')
  t.ok(pliCount >= 1, 'the sending device received it')
})

t.test('a PLI from a subscriber is relayed to the sender', async (t) => {
  const { a, b } = await call(t, 43100)
  const plis = plisAt(a)
  const recv = b.liveFrom('a/1').find((r) => r.kind === 'video')!
  const receiver = recv.transceiver.receiver
  const ssrc = receiver.tracks[0]!.ssrc!
  await until(() => {
    void receiver.sendRtcpPLI(ssrc)
    return plis() > 0
  }, 'PLI at the sender')
  t.ok(plis() > 0, 'the sending device got the PLI')
})

t.test('a PLI whose sender SSRC is one of the subscriber\'s own outgoing streams (as Chromium sends it) reaches the source', async (t) => {
  const { a, b } = await call(t, 43800)
  const pliCount = async (): Promise<number> => {
    const report = await ownVideo(a).sender.getStats()
    return ([...report.values()].find((s) => s.type === 'outbound-rtp') as { pliCount?: number } | undefined)?.pliCount ?? 0
  }
  // the first-frame PLI arrives first; count from there
  let before = 0
  await until(() => { void pliCount().then((n) => { before = n }); return before >= 1 }, 'the first-frame PLI at the source')
  const recv = b.liveFrom('a/1').find((r) => r.kind === 'video')!
  const mediaSsrc = recv.transceiver.receiver.tracks[0]!.ssrc!
  const own = ownVideo(b).sender.ssrc // on the server: the SSRC of a RECEIVER (b's published video)
  const pli = new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: own, mediaSsrc }) })
  let after = before
  await until(() => {
    void recv.transceiver.receiver.dtlsTransport.sendRtcp([pli])
    void pliCount().then((n) => { after = n })
    return after > before
  }, 'the relayed PLI at the source', 30_000)
  t.ok(after > before, `the source got the subscriber's PLI (pliCount ${before} -> ${after})`)
})

for (const [what, mediaSsrcOf] of [['media SSRC 0 (RFC 5104)', () => 0], ['the media SSRC set', (ssrc: number) => ssrc]] as const) {
  t.test(`a FIR with ${what} from a subscriber is relayed to the sender as a PLI`, async (t) => {
    const { a, b } = await call(t, what.startsWith('media SSRC 0') ? 43200 : 43400)
    const plis = plisAt(a)
    const recv = b.liveFrom('a/1').find((r) => r.kind === 'video')!
    const ssrc = recv.transceiver.receiver.tracks[0]!.ssrc!
    const dtls = recv.transceiver.receiver.dtlsTransport
    // FIR (RFC 5104 4.3.1): PT 206, FMT 4, FCI = target SSRC + sequence number
    const fir = {
      type: 206,
      serialize: () => {
        const buf = Buffer.alloc(20)
        buf.writeUInt8(0x80 | 4, 0); buf.writeUInt8(206, 1); buf.writeUInt16BE(4, 2)
        buf.writeUInt32BE(1, 4); buf.writeUInt32BE(mediaSsrcOf(ssrc), 8)
        buf.writeUInt32BE(ssrc, 12); buf.writeUInt8(1, 16)
        return buf
      }
    }
    await until(() => {
      void dtls.sendRtcp([fir as never])
      return plis() > 0
    }, 'PLI at the sender after a FIR')
    t.ok(plis() > 0, 'the sending device got a PLI')
  })
}

t.test('a NACK for a forwarded packet gets it retransmitted from the SFU history', async (t) => {
  const { room, b } = await call(t, 43300)
  const recv = b.liveFrom('a/1').find((r) => r.kind === 'video')!
  const seq = recv.seqs[recv.seqs.length - 1]!
  const count = () => recv.seqs.filter((s) => s === seq).length
  const ssrc = recv.transceiver.receiver.tracks[0]!.ssrc!
  const dtls = recv.transceiver.receiver.dtlsTransport
  const nack = new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: ssrc, lost: [seq] }) })
  await until(() => {
    void dtls.sendRtcp([nack])
    return count() >= 2
  }, 'retransmission')
  t.ok(count() >= 2, `packet ${seq} arrived again`)
  const out = room.stats().peers.find((p) => p.peerId === 'b/1')!.tracks.find((tr) => tr.direction === 'out' && tr.kind === 'video')!
  t.ok(out.nack >= 1 && out.retransmitted >= 1, 'stats count the NACK and the retransmission')
})

t.test('the SFU announces its REMB cap to every video sender', async (t) => {
  const { a } = await call(t, 43600, 1234)
  let bitrate: bigint | undefined
  ownVideo(a).sender.onRtcp.subscribe((p) => {
    const fb = p as { type: number, feedback?: { count?: number, bitrate?: bigint } }
    if (fb.type === 206 && fb.feedback?.count === 15) bitrate = fb.feedback.bitrate
  })
  await until(() => bitrate !== undefined, 'a REMB at the sender')
  t.equal(bitrate, 1_234_000n, 'REMB carries maxVideoBitrateKbps')
})
