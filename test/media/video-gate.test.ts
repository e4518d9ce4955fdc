// The overload policy (media/video-gate.ts): keyframe detection, the
// per-frame drop rule, the loop-lag signal, and the policy in a real call.
import t from 'tap'
import { RtpHeader, RtpPacket } from 'werift'
import { MediaServer } from '../../media/index.js'
import { LATE_MS, LoopLag, RESUME_MS, VideoGate, isKeyframeStart, loopLag } from '../../media/video-gate.js'
import { Device, until } from './device.js'

const b = (...bytes: number[]): Buffer => Buffer.from(bytes)

t.test('isKeyframeStart reads VP8 and H264 payloads', async (t) => {
  t.ok(isKeyframeStart('VP8', b(0x10, 0x00, 0x9d)), 'VP8: S=1, PID=0, P=0')
  t.notOk(isKeyframeStart('VP8', b(0x10, 0x01, 0x9d)), 'VP8 delta frame (P=1)')
  t.notOk(isKeyframeStart('VP8', b(0x00, 0x00, 0x9d)), 'VP8 continuation packet (S=0)')
  t.ok(isKeyframeStart('vp8', b(0x90, 0x80, 0x81, 0x23, 0x00)), 'VP8 with a 15-bit PictureID')
  t.ok(isKeyframeStart('VP8', b(0x90, 0xe0, 0x05, 0x01, 0x40, 0x00)), 'VP8 with 7-bit PictureID, TL0PICIDX and TID')
  t.ok(isKeyframeStart('H264', b(0x65, 0x88)), 'H264 IDR slice')
  t.ok(isKeyframeStart('H264', b(0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce)), 'H264 STAP-A with SPS')
  t.ok(isKeyframeStart('H264', b(0x7c, 0x85, 0x00)), 'H264 FU-A start of an IDR')
  t.notOk(isKeyframeStart('H264', b(0x7c, 0x05, 0x00)), 'H264 FU-A middle of an IDR')
  t.notOk(isKeyframeStart('H264', b(0x41, 0x9a)), 'H264 P slice')
  t.notOk(isKeyframeStart('opus', b(0x10, 0x00)), 'not a video codec')
  t.notOk(isKeyframeStart('VP8', b(0x10)), 'too short')
})

t.test('VideoGate drops whole delta frames while overloaded, keeps keyframes, resumes at a keyframe', async (t) => {
  const g = new VideoGate()
  let over = false
  const overloaded = () => over
  const now = 1_000_000
  t.equal(g.admit(1, true, overloaded, now).decision, 'send', 'keyframe')
  t.equal(g.admit(2, false, overloaded, now).decision, 'send', 'delta, not overloaded')
  over = true
  const first = g.admit(3, false, overloaded, now)
  t.same(first, { decision: 'drop', started: true }, 'delta while overloaded: dropped, episode starts')
  over = false
  t.same(g.admit(3, false, overloaded, now), { decision: 'drop', started: false }, 'the rest of that frame goes too, though the overload ended')
  t.equal(g.admit(4, false, overloaded, now + 10).decision, 'drop', 'next delta: still waiting for a keyframe')
  over = true
  t.equal(g.admit(5, true, overloaded, now + 20).decision, 'send', 'a keyframe passes while overloaded')
  t.equal(g.admit(6, false, overloaded, now + 30).decision, 'drop', 'delta after it, still overloaded')
  over = false
  t.equal(g.admit(7, false, overloaded, now + 40).decision, 'drop', 'overload over, no keyframe yet')
  t.equal(g.admit(8, true, overloaded, now + 50).decision, 'send', 'keyframe: resumes')
  t.equal(g.admit(9, false, overloaded, now + 60).decision, 'send', 'deltas flow again')
  t.equal(g.droppedFrames, 4, 'four frames dropped')
  t.equal(g.droppedPackets, 5, 'five packets dropped')
  t.notOk(g.dropping)
})

t.test('VideoGate resumes RESUME_MS after the overload without a keyframe', async (t) => {
  const g = new VideoGate()
  let over = true
  const now = 5_000_000
  t.equal(g.admit(1, false, () => over, now).decision, 'drop')
  over = false
  t.equal(g.admit(2, false, () => over, now + RESUME_MS - 1).decision, 'drop', 'just before RESUME_MS')
  t.equal(g.admit(3, false, () => over, now + RESUME_MS).decision, 'send', 'at RESUME_MS')
})

t.test('LoopLag sees a loop that runs late turn after turn, not one long turn', async (t) => {
  const lag = new LoopLag()
  lag.acquire()
  t.teardown(() => lag.release())
  // long turns in the check phase, as the SFU's are in the poll phase (I/O)
  const longTurn = (ms: number): Promise<void> => new Promise((resolve) => setImmediate(() => {
    const end = Date.now() + ms
    while (Date.now() < end) { /* busy */ }
    resolve()
  }))
  await new Promise((resolve) => setTimeout(resolve, 60))
  t.ok(lag.lagMs < LATE_MS, `idle loop: ${lag.lagMs.toFixed(1)} ms`)
  await longTurn(120)
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.ok(lag.lagMs < LATE_MS, `one 120 ms turn: ${lag.lagMs.toFixed(1)} ms`)
  for (let i = 0; i < 5; i++) await longTurn(60)
  t.ok(lag.lagMs >= 40, `60 ms turns, five in a row: ${lag.lagMs.toFixed(1)} ms`)
})

t.test('a forward behind its budget keeps audio, drops delta frames whole, asks for a keyframe and lowers the REMB', async (t) => {
  const server = new MediaServer({ portRange: { min: 48200, max: 48299 }, statsIntervalMs: 0, maxVideoBitrateKbps: 2000 })
  t.teardown(() => server.close())
  const room = server.createRoom('gate')
  const a = new Device(room.addPeer('a/1'))
  const bob = new Device(room.addPeer('b/1'))
  t.teardown(async () => { await a.close(); await bob.close() })
  await a.offer()
  await bob.offer()
  await until(() => bob.liveFrom('a/1').length === 2, 'b subscribed to a')
  await a.sendUntil('video', 'warm', () => bob.liveFrom('a/1').some((r) => r.kind === 'video' && r.payloads.length > 0), 'first video at b')
  await a.sendUntil('audio', 'warm', () => bob.liveFrom('a/1').some((r) => r.kind === 'audio' && r.payloads.length > 0), 'first audio at b')
  const video = bob.liveFrom('a/1').find((r) => r.kind === 'video')!
  const audio = bob.liveFrom('a/1').find((r) => r.kind === 'audio')!

  const aVideo = a.pc.getTransceivers().find((tr) => tr.sender.track === a.tracks.video)!
  let plis = 0
  aVideo.sender.onPictureLossIndication.subscribe(() => { plis++ })
  const rembs: number[] = []
  aVideo.sender.onRtcp.subscribe((p) => {
    const fb = p as { type: number, feedback?: { count?: number, bitrate?: bigint } }
    if (fb.type === 206 && fb.feedback?.count === 15 && fb.feedback.bitrate !== undefined) rembs.push(Number(fb.feedback.bitrate))
  })

  // frames of VP8-looking packets: [descriptor S=1 PID=0][P bit] + a label
  let seq = 5000
  let ts = 90000
  const frame = (key: boolean, label: string, packets = 2): void => {
    ts += 3000
    for (let i = 0; i < packets; i++) {
      const head = i === 0 ? b(0x10, key ? 0x00 : 0x01) : b(0x00, 0x00)
      a.tracks.video!.writeRtp(new RtpPacket(
        new RtpHeader({ payloadType: 96, sequenceNumber: seq++ & 0xffff, timestamp: ts, ssrc: 1234, marker: i === packets - 1 }),
        Buffer.concat([head, Buffer.from(`${label}.${i}`)])))
    }
    a.send('audio', `audio-${label}`)
  }
  const label = (p: string): string => p.slice(2)
  const seqStart = video.seqs.length
  const payStart = video.payloads.length
  const audioStart = audio.payloads.length

  frame(true, 'k1')
  frame(false, 'd1')
  await until(() => video.payloads.map(label).includes('d1.1'), 'd1 at b', 10_000)
  // keyframe requests to a source are throttled to one per 300 ms (forward.ts)
  await new Promise((resolve) => setTimeout(resolve, 350))
  // the SFU is behind (as if its event loop ran 100 ms late)
  const real = Object.getOwnPropertyDescriptor(loopLag, 'lagMs')!
  Object.defineProperty(loopLag, 'lagMs', { get: () => 100, set: () => {}, configurable: true })
  frame(false, 'd2')
  frame(false, 'd3')
  frame(true, 'k2')
  frame(false, 'd4')
  await until(() => video.payloads.map(label).includes('k2.1') && audio.payloads.includes('audio-d4'), 'k2 and the audio at b', 10_000)
  Object.defineProperty(loopLag, 'lagMs', real)
  loopLag.lagMs = 0
  frame(false, 'd5')
  frame(true, 'k3')
  frame(false, 'd6')
  await until(() => video.payloads.map(label).includes('d6.1'), 'd6 at b', 10_000)

  const got = video.payloads.slice(payStart).map(label)
  t.same(got, ['k1.0', 'k1.1', 'd1.0', 'd1.1', 'k2.0', 'k2.1', 'k3.0', 'k3.1', 'd6.0', 'd6.1'],
    'delta frames dropped whole while behind and until the next keyframe; keyframes kept')
  t.same(audio.payloads.slice(audioStart), ['audio-k1', 'audio-d1', 'audio-d2', 'audio-d3', 'audio-k2', 'audio-d4', 'audio-d5', 'audio-k3', 'audio-d6'], 'every audio packet')
  const seqs = video.seqs.slice(seqStart)
  t.ok(seqs.every((s, i) => i === 0 || s === ((seqs[i - 1]! + 1) & 0xffff)), `no sequence gap for the subscriber to NACK (${seqs.join(',')})`)
  await until(() => plis > 0, 'a PLI at the source', 10_000)
  t.ok(plis > 0, 'the source was asked for a keyframe')
  const out = room.stats().peers.find((p) => p.peerId === 'b/1')!.tracks.find((tr) => tr.direction === 'out' && tr.kind === 'video')!
  t.equal(out.droppedFrames, 4, `stats count the dropped frames (${JSON.stringify(out)})`)
  await until(() => rembs.some((r) => r <= 1_000_000), 'a halved REMB', 5_000)
  t.ok(rembs.some((r) => r <= 1_000_000), `REMB halved to ${Math.min(...rembs)} bps`)
})
