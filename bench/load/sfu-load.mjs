// SFU load: synthetic werift devices in one or more rooms of the same
// shape. Publishers send a video track of stamped RTP packets; subscribers
// receive every publisher's track of their room through the SFU. Latency
// is send → receive inside this process (one clock), so it includes the devices' own SRTP work: an upper bound of what the SFU adds.
import { connect } from 'node:net'
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from 'werift'
import { LatencyRecorder, SeenSet, now, sleep } from './recorder.mjs'

/** Where the stamp (send time, publisher index, sequence) starts in a payload: after 2 bytes of VP8 framing. */
const STAMP = 2
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

export function createSfu () {
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
  /** @type {NodeJS.Timeout | undefined} */
  let timer
  const roomOf = (/** @type {number} */ k) => `bench-${process.pid}-${k}`
  /** Publishers per room. */
  let perRoom = 1
  const lightened = new WeakSet()

  /** @param {object} msg */
  const send = (msg) => socket.write(JSON.stringify(msg) + '\n')

  /** @param {string} room @param {string} id @param {boolean} publishes */
  async function device (room, id, publishes) {
    const pc = new RTCPeerConnection({ iceServers: [], iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'] })
    const track = new MediaStreamTrack({ kind: publishes ? 'video' : 'audio' })
    pc.addTransceiver(track, { direction: 'sendrecv' })
    // Loopback only: keep werift's ICE agent from asking its default public STUN server.
    for (const t of pc.iceTransports) /** @type {any} */ (t.connection).stunServer = undefined
    const d = { id, pc, track, seq: 1, seen: new SeenSet(), firstMediaMs: /** @type {number | null} */ (null), t0: now(), chain: Promise.resolve() }
    /** @param {any} rtp */
    const onRtp = (rtp) => {
      const p = rtp.payload
      if (p.length < STAMP + 16) return
      d.firstMediaMs ??= Number(now() - d.t0) / 1e6
      if (!d.seen.mark(p.readUInt32BE(STAMP + 8), p.readUInt32BE(STAMP + 12))) return
      received++
      if (measuring) latency.add(Number(now() - p.readBigUInt64BE(STAMP)) / 1000)
    }
    // A light receiver: each decrypted packet (werift's SRTP, authenticated)
    // goes straight to onRtp, skipping werift's router, receiver statistics,
    // NACK generation and track events, which cost this process more than
    // the SFU spends forwarding the packet and made the load generator, not
    // the SFU, the bottleneck. RTCP still takes werift's path.
    pc.ontrack = () => {
      for (const t of pc.dtlsTransports) {
        if (lightened.has(t)) continue
        lightened.add(t)
        t.onRtp.execute = onRtp
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
    payload.writeBigUInt64BE(now(), STAMP)
    payload.writeUInt32BE(index, STAMP + 8)
    payload.writeUInt32BE(seq, STAMP + 12)
    d.track.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq & 0xffff, timestamp: seq * 3000, ssrc: 4242 + index, marker: true }), payload))
    sent++
  }

  /** @param {number} pps per publisher @param {number} size */
  function pace (pps, size) {
    if (timer !== undefined) clearInterval(timer)
    const t0 = Date.now()
    const counts = publishers.map(() => 0)
    timer = setInterval(() => {
      const due = Math.floor((Date.now() - t0) / 1000 * pps)
      publishers.forEach((d, i) => { while (counts[i] < due) { sendPacket(d, i, size); counts[i]++ } })
    }, 5)
  }

  return {
    /** @param {{ port: number, publishers: number, subscribers: number, size: number, rooms?: number }} a rooms: that many rooms of this shape (default 1) */
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
      for (let k = 0; k < rooms; k++) for (let i = 0; i < a.publishers; i++) publishers.push(await device(roomOf(k), `r${k}-pub${i}`, true))
      await until(() => publishers.every((d) => d.pc.connectionState === 'connected'), 'publishers connected')
      pace(20, a.size) // a trickle, so joining subscribers see media at once
      const joinStart = now()
      for (let k = 0; k < rooms; k++) for (let i = 0; i < a.subscribers; i++) subscribers.push(await device(roomOf(k), `r${k}-sub${i}`, false))
      await until(() => subscribers.every((d) => d.seen.bits.size >= a.publishers), `every subscriber receiving all ${a.publishers} publishers of its room${errors.length > 0 ? ` (${errors[0]})` : ''}`, 120_000)
      const first = subscribers.map((d) => d.firstMediaMs).sort((x, y) => x - y)
      return { joinAllMs: Number(now() - joinStart) / 1e6, firstMediaP50: first[first.length >> 1], firstMediaMax: first[first.length - 1], errors: errors.slice(0, 3) }
    },

    /** @param {{ pps: number, size: number }} a */
    start (a) {
      pace(a.pps, a.size)
      return {}
    },

    mark () {
      latency = new LatencyRecorder()
      measuring = true
      received = 0
      sent = 0
      return {}
    },

    markEnd () {
      measuring = false
      // every packet goes to every subscriber and to every other publisher of its room (publishers receive too)
      const rooms = Math.max(1, publishers.length / perRoom)
      return { received, sent, expected: sent * ((subscribers.length + publishers.length) / rooms - 1), latency: latency.summary(), errors: errors.slice(0, 3) }
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
