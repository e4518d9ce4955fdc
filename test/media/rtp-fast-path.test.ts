// The forwarding fast path (media/rtp-fast-path.ts) reads werift internals:
// this file is its tripwire. It fails if werift moves, and shows that what
// the fast path sends is what werift's own path would have sent.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import t from 'tap'
import { RtpHeader, RtpPacket, useAbsSendTime, useSdesMid, type RTCRtpSender } from 'werift'
import { MediaServer } from '../../media/index.js'
import type { Forward } from '../../media/forward.js'
import { RTP_FAST_PATH_WERIFT, fastPathSupported, fastTransportSupported, ntpNow, writeRtpHeader } from '../../media/rtp-fast-path.js'
import { Device, until } from './device.js'
import { overload } from '../../media/video-gate.js'

// The fast path's output, not the overload policy (video-gate.test.ts): 50
// packets sent at once from this one busy process must not be shed as video.
const control = overload.control
overload.control = () => {}
t.teardown(() => { overload.control = control })

const require = createRequire(import.meta.url)

t.test('werift is the version the fast path was written against', async (t) => {
  const main = require.resolve('werift')
  const pkg = JSON.parse(readFileSync(main.replace(/lib[/\\]webrtc[/\\]src[/\\]index\.js$/, 'package.json'), 'utf8')) as { version: string }
  t.equal(pkg.version, RTP_FAST_PATH_WERIFT, 'bump RTP_FAST_PATH_WERIFT only after rereading dispatchRtp and RTCDtlsTransport.sendRtp')
})

t.test('writeRtpHeader writes the bytes werift\'s RtpHeader.serialize writes', async (t) => {
  const cases: Array<Partial<RtpHeader>> = [
    { payloadType: 96, sequenceNumber: 65535, timestamp: 0xffffffff, ssrc: 0xdeadbeef, marker: true },
    { payloadType: 111, sequenceNumber: 7, timestamp: 3000, ssrc: 1, csrc: [5, 6], extensions: [{ id: 1, payload: Buffer.from('0') }, { id: 3, payload: Buffer.from([1, 2, 3]) }] },
    { payloadType: 96, sequenceNumber: 8, timestamp: 1, ssrc: 2, extensionProfile: 0x1000, extensions: [{ id: 20, payload: Buffer.alloc(0) }, { id: 200, payload: Buffer.from('abcdefghijklmnopq') }] }
  ]
  for (const c of cases) {
    const a = new RtpHeader({ ...c })
    const b = new RtpHeader({ ...c })
    const ours = writeRtpHeader(a)
    const theirs = b.serialize(b.serializeSize)
    t.same(ours, theirs, `header ${JSON.stringify({ seq: c.sequenceNumber, ext: c.extensions?.length ?? 0 })}`)
    t.equal(a.payloadOffset, ours.length, 'payloadOffset set')
  }
})

t.test('ntpNow is the wall clock in NTP 32.32 form', async (t) => {
  const ntp = ntpNow()
  const ms = Number(ntp >> 32n) * 1000 + Number(ntp & 0xffffffffn) / 0x100000000 * 1000 - 2208988800000
  t.ok(Math.abs(ms - Date.now()) < 50, `within 50 ms of Date.now() (${ms - Date.now()} ms)`)
})

t.test('a sender werift changed under the fast path is refused (werift\'s own sendRtp is used)', async (t) => {
  t.notOk(fastPathSupported({} as unknown as RTCRtpSender), 'an empty object')
  t.notOk(fastTransportSupported({}), 'a transport without an SRTP context')
})

t.test('forwards use the fast path, and the subscriber gets every packet with mid and abs-send-time, in order', async (t) => {
  const server = new MediaServer({ portRange: { min: 48100, max: 48199 }, statsIntervalMs: 0 })
  t.teardown(() => server.close())
  const room = server.createRoom('fast')
  const headerExtensions = { audio: [useSdesMid()], video: [useSdesMid(), useAbsSendTime()] }
  const a = new Device(room.addPeer('a/1'), { headerExtensions })
  const b = new Device(room.addPeer('b/1'), { headerExtensions })
  t.teardown(async () => { await a.close(); await b.close() })
  await a.offer()
  await b.offer()
  await until(() => b.liveFrom('a/1').some((r) => r.kind === 'video'), 'b subscribed to a video')
  await a.sendUntil('video', 'warm', () => b.liveFrom('a/1').some((r) => r.payloads.includes('warm')), 'first video at b')

  const video = b.liveFrom('a/1').find((r) => r.kind === 'video')!
  const exts: Array<Array<{ id: number, payload: Buffer }>> = []
  video.transceiver.receiver.tracks[0]!.onReceiveRtp.subscribe((rtp: RtpPacket) => { exts.push(rtp.header.extensions) })
  const from = video.payloads.length
  const seqs = video.seqs.length
  for (let i = 0; i < 50; i++) a.send('video', `p${i}`)
  await until(() => video.payloads.length - from >= 50, '50 packets at b', 10_000)
  t.same(video.payloads.slice(from, from + 50), Array.from({ length: 50 }, (_, i) => `p${i}`), 'every payload, in order')
  const got = video.seqs.slice(seqs, seqs + 50)
  t.ok(got.every((s, i) => i === 0 || s === ((got[i - 1]! + 1) & 0xffff)), 'consecutive sequence numbers')

  const forwards = [...((room as unknown as { forwards: Map<string, Map<string, Forward>> }).forwards.values())].flatMap((m) => [...m.values()])
  t.ok(forwards.length >= 2, 'forwards exist')
  for (const f of forwards) {
    t.ok(fastPathSupported(f.sender), `${f.source.id} -> ${f.subscriber.id}: sender shape known`)
    t.ok(fastTransportSupported(f.sender.dtlsTransport), `${f.source.id} -> ${f.subscriber.id}: transport shape known`)
    t.equal(f.fast.fallbacks, 0, `${f.source.id} -> ${f.subscriber.id}: no packet took werift's slow path`)
  }
  const ids = exts.at(-1)!.map((e) => e.id)
  t.ok(ids.length >= 2, `mid and abs-send-time extensions present (ids ${ids.join(',')})`)
  const sender = forwards.find((f) => f.subscriber.id === 'b/1' && f.source.kind === 'video')!.sender as unknown as { packetCount: number, octetCount: number }
  t.ok(sender.packetCount >= 50 && sender.octetCount > 0, 'werift sender counters kept (sender reports)')
})
