// A werift "device" run as a child process (e.g. inside a network namespace,
// see netns.ts), driven by JSON lines on stdin; it answers with JSON lines on
// stdout. Plain JavaScript so that `ip netns exec NS node werift-device.mjs`
// needs no TypeScript loader.
//
//   in:  {op:'call', id, address}      -> out: {id, event:'offer', sdp}
//        {op:'answer', id, sdp}         (the other side's answer)
//        {op:'offer', id, sdp}          -> out: {id, event:'answer', sdp} (a server re-offer)
//        {op:'stats', id}               -> out: {id, event:'stats', state, sent, received}
//        {op:'close', id}
//   out: {id, event:'state', state}     (every RTCPeerConnection connectionState change)
//        {id, event:'error', message}
//
// argv: --fix=PATH  import PATH (e.g. dist/media/dtls-loss-repair.js) and call
//                   its installDtlsLossRepair() before any peer exists.
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from 'werift'

const fixArg = process.argv.find((a) => a.startsWith('--fix='))
if (fixArg !== undefined) {
  const mod = await import(pathToFileURL(fixArg.slice('--fix='.length)).href)
  mod.installDtlsLossRepair()
}

const calls = new Map()
const out = (msg) => process.stdout.write(JSON.stringify(msg) + '\n')

async function call (id, address) {
  const pc = new RTCPeerConnection({
    // Only the namespace's own veth address, and a STUN "server" on this
    // namespace's loopback, so werift never falls back to a public one.
    iceServers: [{ urls: 'stun:127.0.0.1:3478' }],
    iceStunGatherTimeout: 1,
    iceInterfaceAddresses: { udp4: address },
    iceUseIpv6: false
  })
  const track = new MediaStreamTrack({ kind: 'audio' })
  const c = { pc, track, sent: 0, received: 0, timer: undefined }
  calls.set(id, c)
  pc.addTransceiver(track, { direction: 'sendrecv' })
  pc.ontrack = (event) => {
    event.track.onReceiveRtp.subscribe(() => { c.received++ })
  }
  pc.connectionStateChange.subscribe((state) => {
    out({ id, event: 'state', state })
    if (state === 'connected' && c.timer === undefined) startRtp(c)
  })
  await pc.setLocalDescription(await pc.createOffer())
  await waitGathered(pc)
  out({ id, event: 'offer', sdp: pc.localDescription.sdp })
}

/** 50 packets a second of a fake 20 ms Opus frame, as a microphone would. */
function startRtp (c) {
  let seq = Math.floor(Math.random() * 60000)
  let ts = Math.floor(Math.random() * 2 ** 31)
  const ssrc = Math.floor(Math.random() * 2 ** 31)
  c.timer = setInterval(() => {
    seq = (seq + 1) & 0xffff
    ts = (ts + 960) >>> 0
    const header = new RtpHeader({ sequenceNumber: seq, timestamp: ts, ssrc, payloadType: 111, marker: false })
    c.track.writeRtp(new RtpPacket(header, Buffer.alloc(60, 0xf8)))
    c.sent++
  }, 20)
}

async function waitGathered (pc) {
  if (pc.iceGatheringState === 'complete') return
  await new Promise((resolve) => {
    pc.iceGatheringStateChange.subscribe((state) => { if (state === 'complete') resolve() })
  })
}

async function handle (msg) {
  const c = calls.get(msg.id)
  switch (msg.op) {
    case 'call': return await call(msg.id, msg.address)
    case 'answer': return await c.pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp })
    case 'offer': {
      await c.pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp })
      await c.pc.setLocalDescription(await c.pc.createAnswer())
      await waitGathered(c.pc)
      return out({ id: msg.id, event: 'answer', sdp: c.pc.localDescription.sdp })
    }
    case 'stats': return out({ id: msg.id, event: 'stats', state: c?.pc.connectionState, sent: c?.sent ?? 0, received: c?.received ?? 0 })
    case 'close':
      if (c === undefined) return
      clearInterval(c.timer)
      calls.delete(msg.id)
      await c.pc.close()
      return out({ id: msg.id, event: 'closed' })
    default: throw new Error(`unknown op ${msg.op}`)
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  let msg
  try {
    msg = JSON.parse(line)
  } catch {
    return out({ event: 'error', message: `bad line ${line.slice(0, 80)}` })
  }
  handle(msg).catch((err) => out({ id: msg.id, event: 'error', message: String(err?.stack ?? err) }))
}).on('close', () => process.exit(0))
out({ event: 'ready' })
