// The overload policy (media/video-gate.ts): keyframe detection, the
// per-frame drop rule, the loop-lag signal, and the policy in a real call.
import t from 'tap'
import { RtpHeader, RtpPacket } from 'werift'
import { MediaServer } from '../../media/index.js'
import { ADMIT_EVERY_MS, BUSY_HIGH, BUSY_LOW, LATE_MS, LoopLag, Overload, RESUME_MS, SHED_EVERY_MS, VideoGate, isKeyframeStart, overload } from '../../media/video-gate.js'
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
  // (a shared machine may starve this process for a moment: wait for an on-time loop)
  await until(() => lag.lagMs < LATE_MS, 'an on-time loop', 10_000)
  t.ok(lag.lagMs < LATE_MS, `idle loop: ${lag.lagMs.toFixed(1)} ms`)
  await longTurn(150)
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.ok(lag.lagMs < 100, `one 150 ms turn is not read as 150 ms late: ${lag.lagMs.toFixed(1)} ms`)
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
  // the monitor has its own tests below; here the test says exactly when the
  // SFU sheds this forward's video, whatever this machine does
  const control = overload.control
  overload.control = () => {}
  t.teardown(() => { overload.control = control; overload.admitted = Infinity })
  const setBehind = (on: boolean): void => { overload.admitted = on ? 0 : Infinity }

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
  const droppedBefore = room.stats().peers.find((p) => p.peerId === 'b/1')!.tracks.find((tr) => tr.direction === 'out' && tr.kind === 'video')!.droppedFrames ?? 0
  const seqStart = video.seqs.length
  const payStart = video.payloads.length
  const audioStart = audio.payloads.length

  frame(true, 'k1')
  frame(false, 'd1')
  await until(() => video.payloads.map(label).includes('d1.1'), 'd1 at b', 10_000)
  // keyframe requests to a source are throttled to one per 300 ms (forward.ts)
  await new Promise((resolve) => setTimeout(resolve, 350))
  // the SFU is behind (as if its event loop ran 100 ms late)
  setBehind(true)
  frame(false, 'd2')
  frame(false, 'd3')
  frame(true, 'k2')
  frame(false, 'd4')
  await until(() => video.payloads.map(label).includes('k2.1') && audio.payloads.includes('audio-d4'), 'k2 and the audio at b', 10_000)
  setBehind(false)
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
  t.equal((out.droppedFrames ?? 0) - droppedBefore, 4, `stats count the dropped frames (${JSON.stringify(out)})`)
  await until(() => rembs.some((r) => r <= 1_000_000), 'a halved REMB', 5_000)
  t.ok(rembs.some((r) => r <= 1_000_000), `REMB halved to ${Math.min(...rembs)} bps`)
})

t.test('Overload cuts the admitted video forwards while busy and admits them back once the loop is idle', async (t) => {
  const o = new Overload()
  const fs = Array.from({ length: 10 }, () => ({ rank: -1 }))
  // members only: no timer runs control() here (join acquires it, so stop it at once)
  for (const f of fs) o.join(f)
  t.teardown(() => { for (const f of fs) o.leave(f) })
  t.same(fs.map((f) => f.rank), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'ranked in join order')
  let now = 1000
  o.control(now, 0.5, 0)
  t.equal(o.admitted, Infinity, 'a loop below the knee: every forward admitted')
  o.control(now, BUSY_HIGH + 0.01, 0)
  t.equal(o.admitted, 7, 'busy: cut to 70 %')
  t.ok(o.isShed(fs[9]!) && o.isShed(fs[7]!) && !o.isShed(fs[6]!), 'the newest shed first')
  o.control(now + SHED_EVERY_MS - 1, 1, 0)
  t.equal(o.admitted, 7, 'no second cut within SHED_EVERY_MS (the first one takes effect)')
  now += SHED_EVERY_MS
  o.control(now, 1, 0)
  t.equal(o.admitted, 4, 'still busy: cut again')
  now += SHED_EVERY_MS
  o.control(now, 0.5, LATE_MS + 1)
  t.equal(o.admitted, 2, 'a loop running late turn after turn counts as busy too')
  for (let i = 0; i < 5; i++) { now += SHED_EVERY_MS; o.control(now, 1, 0) }
  t.equal(o.admitted, 0, 'down to no video forward admitted (keyframes still pass, by VideoGate)')
  now += ADMIT_EVERY_MS
  o.control(now, (BUSY_LOW + BUSY_HIGH) / 2, 0)
  t.equal(o.admitted, 0, 'between the thresholds: held')
  o.control(now, BUSY_LOW - 0.01, 0)
  t.equal(o.admitted, 1, 'idle enough: one step more (10 % of 10)')
  o.control(now + ADMIT_EVERY_MS - 1, 0, 0)
  t.equal(o.admitted, 1, 'one step per ADMIT_EVERY_MS')
  for (let i = 0; i < 9; i++) { now += ADMIT_EVERY_MS; o.control(now, 0, 0) }
  t.equal(o.admitted, Infinity, 'all admitted again')
  o.leave(fs[0]!)
  t.same(fs.slice(1).map((f) => f.rank), [0, 1, 2, 3, 4, 5, 6, 7, 8], 'ranks move up when one leaves')
  fs.shift()
})

t.test('a saturated SFU thread keeps every audio packet on time, sheds video down to keyframes, and resumes video after', async (t) => {
  const server = new MediaServer({ portRange: { min: 48300, max: 48399 }, statsIntervalMs: 0 })
  t.teardown(() => server.close())
  const room = server.createRoom('hog')
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
  const labels = (): string[] => video.payloads.map((p) => p.slice(2))
  const arrivedAt = new Map<string, number>()
  const push = audio.payloads.push.bind(audio.payloads)
  audio.payloads.push = (...xs: string[]) => { for (const x of xs) arrivedAt.set(x, performance.now()); return push(...xs) }
  const aVideo = a.pc.getTransceivers().find((tr) => tr.sender.track === a.tracks.video)!
  let plis = 0
  aVideo.sender.onPictureLossIndication.subscribe(() => { plis++ })

  const seqStart = video.seqs.length
  // a 25 fps camera (a keyframe every 10th frame, 2 packets a frame) and 50 audio packets/s
  let seq = 7000
  let ts = 0
  let frames = 0
  let phase = 'before'
  const sentAudio: Array<{ label: string, at: number }> = []
  const frame = (key: boolean): void => {
    ts += 3600
    const label = `${phase}-${key ? 'k' : 'd'}${frames++}`
    for (let i = 0; i < 2; i++) {
      a.tracks.video!.writeRtp(new RtpPacket(
        new RtpHeader({ payloadType: 96, sequenceNumber: seq++ & 0xffff, timestamp: ts, ssrc: 1234, marker: i === 1 }),
        Buffer.concat([i === 0 ? b(0x10, key ? 0x00 : 0x01) : b(0x00, 0x00), Buffer.from(`${label}.${i}`)])))
    }
  }
  let tick = 0
  const camera = setInterval(() => {
    const label = `${phase}-a${tick}`
    sentAudio.push({ label, at: performance.now() })
    a.send('audio', label)
    if (tick++ % 2 === 0) frame(frames % 10 === 0)
  }, 20)
  t.teardown(() => clearInterval(camera))
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
  await sleep(500)

  // the hog: the SFU's thread busy in 8 ms turns, as if forwarding cost more than it has
  phase = 'hog'
  let hogging = true
  const hog = (): void => {
    if (!hogging) return
    const end = performance.now() + 8
    while (performance.now() < end) { /* busy */ }
    setImmediate(hog)
  }
  setImmediate(hog)
  t.teardown(() => { hogging = false })
  await until(() => overload.admitted === 0, 'the monitor shedding the forward', 10_000)
  const shedAt = performance.now()
  phase = 'shed'
  await sleep(1500)
  hogging = false
  phase = 'after'
  await until(() => overload.admitted === Infinity, 'the forward admitted again', 10_000)
  await until(() => labels().some((p) => /^after-d/.test(p)), 'delta frames at b after the overload', 10_000)
  clearInterval(camera)
  await sleep(300)

  t.ok(performance.now() - shedAt < 10_000, 'shed within the window')
  const shedVideo = labels().filter((p) => p.startsWith('shed-'))
  t.ok(shedVideo.length > 0 && shedVideo.every((p) => /^shed-k/.test(p)), `while shed only keyframes reached b (${shedVideo.join(',')})`)
  const missing = sentAudio.filter((s) => !arrivedAt.has(s.label))
  t.same(missing.map((s) => s.label), [], `every audio packet reached b (${sentAudio.length} sent)`)
  const delays = sentAudio.filter((s) => s.label.startsWith('shed-')).map((s) => (arrivedAt.get(s.label) ?? Infinity) - s.at).sort((x, y) => x - y)
  const p50 = delays[delays.length >> 1]!
  const max = delays[delays.length - 1]!
  t.ok(delays.length >= 50, `${delays.length} audio packets while shed`)
  t.ok(p50 < 30 && max < 200, `audio while shed: p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms (8 ms turns of the hog in between)`)
  t.ok(plis > 0, 'a keyframe was asked for to resume')
  const after = labels().filter((p) => p.startsWith('after-'))
  t.match(after[0] ?? '', /^after-k/, `video resumed at a keyframe (${after.slice(0, 4).join(',')})`)
  const seqs = video.seqs.slice(seqStart + 1)
  t.ok(seqs.every((s, i) => i === 0 || s === ((seqs[i - 1]! + 1) & 0xffff)), 'no sequence gap for b to NACK')
})
