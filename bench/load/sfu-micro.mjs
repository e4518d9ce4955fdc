// The marginal CPU cost of one forwarded packet (one source packet to one
// subscriber), werift's own send path against the fast path, in one process:
//   node bench/load/sfu-micro.mjs [packets] [size]
// A real MediaServer (dist/media) and two werift devices on loopback; once
// the call is up, packets of `size` bytes are pushed into the forward a -> b
// both ways, CPU time (process.cpuUsage) per packet reported. The receiving
// device drops datagrams at its ICE layer, so its werift receive path is not
// counted; the kernel's loopback delivery is (as in a real SFU's send).
// Less sensitive to a shared machine than the sfu cells: no load generator.
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from 'werift'

const ROOT = new URL('../../', import.meta.url).pathname
const { MediaServer } = await import(pathToFileURL(join(ROOT, 'dist/media/index.js')).href)
const N = Number(process.argv[2] ?? 20000)
const SIZE = Number(process.argv[3] ?? 1000)
const BATCH = 100

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
async function until (check, what) {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > 30_000) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

const server = new MediaServer({ portRange: { min: 48500, max: 48599 }, listenAddress: '127.0.0.1', announcedAddresses: ['127.0.0.1'], statsIntervalMs: 0 })
const room = server.createRoom('micro')

async function device (id) {
  const peer = room.addPeer(id)
  const pc = new RTCPeerConnection({ iceServers: [], iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'], bundlePolicy: 'max-bundle' })
  const track = new MediaStreamTrack({ kind: 'video' })
  pc.addTransceiver(track, { direction: 'sendrecv' })
  for (const t of pc.iceTransports) t.connection.stunServer = undefined
  let got = 0
  pc.ontrack = ({ track: remote }) => { remote.onReceiveRtp.subscribe(() => { got++ }) }
  let chain = Promise.resolve()
  peer.on('signal', (s) => {
    chain = chain.then(async () => {
      if (s.type === 'answer') await pc.setRemoteDescription(s)
      else if (s.type === 'offer') {
        await pc.setRemoteDescription(s)
        await pc.setLocalDescription(await pc.createAnswer())
        await peer.signal({ type: 'answer', sdp: pc.localDescription.sdp })
      }
    })
  })
  await pc.setLocalDescription(await pc.createOffer())
  await until(() => pc.iceGatheringState === 'complete', 'gathering')
  await peer.signal({ type: 'offer', sdp: pc.localDescription.sdp })
  return { pc, track, got: () => got }
}

const a = await device('a')
const b = await device('b')
let seq = 1
const packet = () => new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq & 0xffff, timestamp: seq++ * 3000, ssrc: 1, marker: true }), Buffer.alloc(SIZE, 1))
await until(() => b.got() > 0 || (a.track.writeRtp(packet()), false), 'media through the SFU')
const f = [...room.forwards.values()].flatMap((m) => [...m.values()]).find((x) => x.subscriber.id === 'b')
// from here on b drops datagrams at its ICE layer: only the SFU's work counts
for (const t of b.pc.iceTransports) t.connection.onData.execute = () => {}

async function measure (name, send) {
  const pkts = Array.from({ length: BATCH }, packet)
  // warm-up
  for (let i = 0; i < 2000; i += BATCH) { for (const p of pkts) send(p); await new Promise((resolve) => setImmediate(resolve)) }
  await sleep(50)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < N; i += BATCH) {
    for (const p of pkts) send(p)
    await new Promise((resolve) => setImmediate(resolve))
  }
  await sleep(20)
  const c = process.cpuUsage(c0)
  const us = (c.user + c.system) / N
  console.log(`${name}: ${us.toFixed(2)} CPU-µs per forwarded packet (${(1e6 / us).toFixed(0)} per CPU-second; user ${(c.user / N).toFixed(2)}, system ${(c.system / N).toFixed(2)}; ${((performance.now() - t0) / 1000).toFixed(1)} s wall)`)
}

console.log(`${N} packets of ${SIZE} B, forward a -> b, node ${process.version}`)
for (let round = 0; round < 2; round++) {
  // werift's path, as Forward used it before issue 14: the forward's local track -> broadcast -> RTCRtpSender.sendRtp
  await measure('werift path', (p) => f.sender.track.writeRtp(p))
  await measure('fast path  ', (p) => f.fast.send(p))
}
await Promise.all([a.pc.close(), b.pc.close()])
await server.close()
process.exit(0)
