// SFU load: synthetic werift devices in one or more rooms of the same
// shape. Publishers send a video track of stamped RTP packets; subscribers
// receive every publisher's track of their room through the SFU. Latency
// is send → receive inside this process (one clock), so it includes the devices' own SRTP work: an upper bound of what the SFU adds.
import { connect } from 'node:net'
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from 'werift'
import { LatencyRecorder, SeenSet, now, sleep } from './recorder.mjs'
import { startProbe } from './sfu-probe.mjs'

/**
 * The stamp (send time, publisher index, sequence: 16 bytes) travels in this
 * RTP header extension (one-byte form): SRTP leaves the header in the clear,
 * and the SFU keeps a source packet's extensions, so receivers count and time
 * packets without decrypting them.
 */
const STAMP_EXT = 12
/** Set in the stamp's publisher field of an audio packet. */
const AUDIO = 0x80000000
/** Publishers mark one packet in this many a VP8 keyframe (the SFU's overload policy resumes video at one). */
const KEYFRAME_EVERY = 100

/** @param {() => boolean} check @param {string} what @param {number} [timeoutMs] */
async function until (check, what, timeoutMs = 60_000) {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/**
 * Where the 16-byte stamp starts in a (S)RTP packet's clear header, or -1.
 * Both extension forms (RFC 8285): one-byte 0xBEDE and two-byte 0x100X.
 * @param {Buffer} b
 */
export function stampAt (b) {
  if ((b[0] & 0x10) === 0) return -1
  let off = 12 + 4 * (b[0] & 0x0f)
  if (b.length < off + 4) return -1
  const profile = b.readUInt16BE(off)
  const end = off + 4 + 4 * b.readUInt16BE(off + 2)
  off += 4
  if (end > b.length) return -1
  const oneByte = profile === 0xbede
  if (!oneByte && (profile & 0xfff0) !== 0x1000) return -1
  while (off < end) {
    if (b[off] === 0) { off++; continue }
    const id = oneByte ? b[off] >> 4 : b[off]
    const len = oneByte ? (b[off] & 0x0f) + 1 : b[off + 1]
    const data = off + (oneByte ? 1 : 2)
    if (oneByte && id === 15) return -1
    if (id === STAMP_EXT && len === 16) return data
    off = data + len
  }
  return -1
}

/**
 * A receiver that costs the load generator next to nothing per packet:
 * every RTP datagram is taken off the device's UDP sockets before werift
 * sees it (no ICE dispatch, no SRTP decryption, no RTP parse) and handed to
 * `onRtp` as it came; STUN, DTLS and RTCP still go to werift. Before, each
 * forwarded packet cost this process more than the SFU spent forwarding
 * it, so the load generator, not the SFU, reached its limit first.
 * @param {any} pc @param {(b: Buffer) => void} onRtp
 */
function clearReceiver (pc, onRtp) {
  for (const t of pc.iceTransports) {
    for (const protocol of t.connection.protocols ?? []) {
      /** @type {import('node:dgram').Socket | undefined} */
      const socket = protocol.transport?.socket
      if (socket === undefined) continue
      const werift = socket.listeners('message')
      socket.removeAllListeners('message')
      socket.on('message', (b, rinfo) => {
        // RTP: version 2, and not RTCP (payload types 192-223 share the port, RFC 5761)
        if (b[0] >= 128 && b[0] <= 191 && (b[1] < 192 || b[1] > 223)) onRtp(b)
        else for (const l of werift) l.call(socket, b, rinfo)
      })
    }
  }
}

export function createSfu () {
  startProbe('sfu-load')
  /** @type {import('node:net').Socket} */
  let socket
  /** @type {Map<string, (signal: any) => void>} */
  const onSignal = new Map()
  /** @type {string[]} */
  const errors = []
  /** @type {any[]} */
  let publishers = []
  /** @type {any[]} */
  let subscribers = []
  let latency = new LatencyRecorder()
  let measuring = false
  let received = 0
  let sent = 0
  /** Packets that took werift's path (the socket hook missed them): 0 when the hook works. */
  let viaWerift = 0
  // audio (publishers' second track, when asked for): the overload policy must never drop it
  let audioLatency = new LatencyRecorder()
  let audioReceived = 0
  let audioSent = 0
  /** @type {NodeJS.Timeout | undefined} */
  let timer
  const roomOf = (/** @type {number} */ k) => `bench-${process.pid}-${k}`
  /** Publishers per room. */
  let perRoom = 1

  /** @param {object} msg */
  const send = (msg) => socket.write(JSON.stringify(msg) + '\n')

  /** @param {string} room @param {string} id @param {boolean} publishes @param {boolean} [withAudio] a publisher's audio track too */
  async function device (room, id, publishes, withAudio = false) {
    const pc = new RTCPeerConnection({ iceServers: [], iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'] })
    const track = new MediaStreamTrack({ kind: publishes ? 'video' : 'audio' })
    pc.addTransceiver(track, { direction: 'sendrecv' })
    const audio = withAudio ? new MediaStreamTrack({ kind: 'audio' }) : undefined
    if (audio !== undefined) pc.addTransceiver(audio, { direction: 'sendrecv' })
    // Loopback only: keep werift's ICE agent from asking its default public STUN server.
    for (const t of pc.iceTransports) /** @type {any} */ (t.connection).stunServer = undefined
    const d = { id, pc, track, audio, seq: 1, aseq: 1, seen: new SeenSet(), seenAudio: new SeenSet(), firstMediaMs: /** @type {number | null} */ (null), t0: now(), chain: Promise.resolve() }
    /** @param {Buffer} b an SRTP packet as it came off the socket */
    const onRtp = (b) => {
      const at = stampAt(b)
      if (at < 0) return
      const source = b.readUInt32BE(at + 8)
      if (source >= AUDIO) {
        if (!d.seenAudio.mark(source, b.readUInt32BE(at + 12))) return
        audioReceived++
        if (measuring) audioLatency.add(Number(now() - b.readBigUInt64BE(at)) / 1000)
        return
      }
      d.firstMediaMs ??= Number(now() - d.t0) / 1e6
      if (!d.seen.mark(source, b.readUInt32BE(at + 12))) return
      received++
      if (measuring) latency.add(Number(now() - b.readBigUInt64BE(at)) / 1000)
    }
    // A datagram the socket hook missed (a transport made after gathering) reaches werift's SRTP
    // path: count it from the decrypted packet's header, skipping werift's receiver, as before.
    const hooked = new WeakSet()
    pc.ontrack = () => {
      for (const t of pc.dtlsTransports) {
        if (hooked.has(t)) continue
        hooked.add(t)
        t.onRtp.execute = (/** @type {any} */ rtp) => {
          viaWerift++
          onRtp(rtp.serialize())
        }
      }
    }
    onSignal.set(id, (signal) => {
      d.chain = d.chain.then(async () => {
        if (signal.type === 'answer') await pc.setRemoteDescription({ type: 'answer', sdp: signal.sdp })
        else if (signal.type === 'offer') {
          await pc.setRemoteDescription({ type: 'offer', sdp: signal.sdp })
          await pc.setLocalDescription(await pc.createAnswer())
          send({ op: 'signal', room, peer: id, signal: { type: 'answer', sdp: pc.localDescription?.sdp } })
        }
      }).catch((/** @type {Error} */ err) => { errors.push(`${id}: ${err.message}`) })
    })
    send({ op: 'add', room, peer: id })
    await pc.setLocalDescription(await pc.createOffer())
    await until(() => pc.iceGatheringState === 'complete', `${id} gathering`)
    clearReceiver(pc, onRtp)
    send({ op: 'signal', room, peer: id, signal: { type: 'offer', sdp: pc.localDescription?.sdp } })
    return d
  }

  /** @param {any} d @param {number} index @param {number} size */
  function sendPacket (d, index, size) {
    const seq = d.seq++
    const payload = Buffer.alloc(size)
    // a VP8 payload descriptor (S=1, PID=0) and header: a keyframe every KEYFRAME_EVERY packets
    payload[0] = 0x10
    payload[1] = seq % KEYFRAME_EVERY === 1 ? 0x00 : 0x01
    const stamp = Buffer.alloc(16)
    stamp.writeBigUInt64BE(now(), 0)
    stamp.writeUInt32BE(index, 8)
    stamp.writeUInt32BE(seq, 12)
    const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq & 0xffff, timestamp: seq * 3000, ssrc: 4242 + index, marker: true, extension: true, extensions: [{ id: STAMP_EXT, payload: stamp }] })
    d.track.writeRtp(new RtpPacket(header, payload))
    sent++
  }

  /** An Opus-sized audio packet (100 B) with its stamp. @param {any} d @param {number} index */
  function sendAudio (d, index) {
    const seq = d.aseq++
    const stamp = Buffer.alloc(16)
    stamp.writeBigUInt64BE(now(), 0)
    stamp.writeUInt32BE(AUDIO + index, 8)
    stamp.writeUInt32BE(seq, 12)
    const header = new RtpHeader({ payloadType: 111, sequenceNumber: seq & 0xffff, timestamp: seq * 960, ssrc: 8484 + index, marker: false, extension: true, extensions: [{ id: STAMP_EXT, payload: stamp }] })
    d.audio.writeRtp(new RtpPacket(header, Buffer.alloc(100, 0xaa)))
    audioSent++
  }

  /** @param {number} pps video packets/s per publisher @param {number} size @param {number} [audioPps] audio packets/s per publisher (with an audio track) */
  function pace (pps, size, audioPps = 0) {
    if (timer !== undefined) clearInterval(timer)
    const t0 = Date.now()
    const counts = publishers.map(() => 0)
    const audioCounts = publishers.map(() => 0)
    timer = setInterval(() => {
      const elapsed = (Date.now() - t0) / 1000
      const due = Math.floor(elapsed * pps)
      const audioDue = Math.floor(elapsed * audioPps)
      publishers.forEach((d, i) => {
        while (counts[i] < due) { sendPacket(d, i, size); counts[i]++ }
        if (d.audio !== undefined) while (audioCounts[i] < audioDue) { sendAudio(d, i); audioCounts[i]++ }
      })
    }, 5)
  }

  return {
    /** @param {{ port: number, publishers: number, subscribers: number, size: number, rooms?: number, audioPps?: number }} a rooms: that many rooms of this shape (default 1); audioPps > 0: each publisher sends an audio track too */
    async setup (a) {
      socket = connect({ port: a.port, host: '127.0.0.1' })
      await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
      socket.setEncoding('utf8')
      let buffered = ''
      socket.on('data', (chunk) => {
        buffered += chunk
        let nl
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const msg = JSON.parse(buffered.slice(0, nl))
          buffered = buffered.slice(nl + 1)
          if (msg.op === 'signal') onSignal.get(msg.peer)?.(msg.signal)
          else if (msg.op === 'error') errors.push(`${msg.peer}: ${msg.message}`)
        }
      })
      const rooms = a.rooms ?? 1
      perRoom = a.publishers
      // publisher index k * P + i: the stamp names it across rooms
      for (let k = 0; k < rooms; k++) for (let i = 0; i < a.publishers; i++) publishers.push(await device(roomOf(k), `r${k}-pub${i}`, true, (a.audioPps ?? 0) > 0))
      await until(() => publishers.every((d) => d.pc.connectionState === 'connected'), 'publishers connected')
      pace(20, a.size, Math.min(20, a.audioPps ?? 0)) // a trickle, so joining subscribers see media at once
      const joinStart = now()
      for (let k = 0; k < rooms; k++) for (let i = 0; i < a.subscribers; i++) subscribers.push(await device(roomOf(k), `r${k}-sub${i}`, false))
      const audio = (a.audioPps ?? 0) > 0 ? a.publishers : 0
      await until(() => subscribers.every((d) => d.seen.bits.size >= a.publishers && d.seenAudio.bits.size >= audio), `every subscriber receiving all ${a.publishers} publishers of its room${errors.length > 0 ? ` (${errors[0]})` : ''}`, 120_000)
      const first = subscribers.map((d) => d.firstMediaMs).sort((x, y) => x - y)
      return { viaWerift, joinAllMs: Number(now() - joinStart) / 1e6, firstMediaP50: first[first.length >> 1], firstMediaMax: first[first.length - 1], errors: errors.slice(0, 3) }
    },

    /** @param {{ pps: number, size: number, audioPps?: number }} a */
    start (a) {
      pace(a.pps, a.size, a.audioPps ?? 0)
      return {}
    },

    mark () {
      latency = new LatencyRecorder()
      measuring = true
      received = 0
      sent = 0
      audioLatency = new LatencyRecorder()
      audioReceived = 0
      audioSent = 0
      return {}
    },

    markEnd () {
      measuring = false
      // every packet goes to every subscriber and to every other publisher of its room (publishers receive too)
      const rooms = Math.max(1, publishers.length / perRoom)
      const copies = (subscribers.length + publishers.length) / rooms - 1
      const audio = { received: audioReceived, sent: audioSent, expected: audioSent * copies, latency: audioLatency.summary() }
      return { received, sent, expected: sent * copies, latency: latency.summary(), audio, viaWerift, errors: errors.slice(0, 3) }
    },

    async close () {
      if (timer !== undefined) clearInterval(timer)
      await Promise.all([...publishers, ...subscribers].map((d) => d.pc.close().catch(() => {})))
      socket?.destroy()
      publishers = []
      subscribers = []
      return {}
    }
  }
}
