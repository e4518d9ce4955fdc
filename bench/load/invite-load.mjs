// Call set-up through a running hail daemon: a caller invites a callee over
// MQTT (im/cmd/call.invite), the callee accepts on its ring, both negotiate
// with the SFU on im/call/{callId}/signal, and the time from the invite's
// PUBLISH to the callee's first media packet from the caller is recorded.
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from 'werift'
import { RawClient } from './raw-client.mjs'
import { LatencyRecorder, now, sleep } from './recorder.mjs'

/** @param {() => boolean} check @param {string} what @param {number} [timeoutMs] */
async function until (check, what, timeoutMs = 30_000) {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/**
 * One side of a call: an MQTT session and, per call, a werift peer connection.
 * @param {number} port @param {{ user: string, password: string }} cred
 */
async function party (port, cred) {
  const mqtt = new RawClient({ port, clientId: `${cred.user}/call`, clean: true, username: cred.user, password: cred.password })
  await mqtt.connect()
  const granted = await mqtt.subscribe([`im/inbox/${cred.user}/#`, `im/reply/${cred.user}/call`], 1)
  if (granted.some((g) => g !== 1)) throw new Error(`${cred.user}: subscriptions refused (${granted.join(',')})`)
  /** @type {((msg: any) => void)[]} */
  const listeners = []
  mqtt.on('message', (_topic, body) => {
    let msg
    try { msg = JSON.parse(body.toString()) } catch { return }
    for (const l of [...listeners]) l(msg)
  })
  let req = 0
  /** @param {string} method @param {object} args @returns {Promise<any>} */
  const command = (method, args) => new Promise((resolve, reject) => {
    const id = `r${++req}`
    const l = (/** @type {any} */ msg) => {
      if (msg.type !== 'result' || msg.req !== id) return
      listeners.splice(listeners.indexOf(l), 1)
      if (msg.ok) resolve(msg.result)
      else reject(new Error(`${method}: ${msg.error?.code} ${msg.error?.message}`))
    }
    listeners.push(l)
    mqtt.publish(`im/cmd/${method}`, JSON.stringify({ req: id, ...args }), 1)
  })
  return { user: cred.user, mqtt, listeners, command }
}

/**
 * Join a call's media: offer a video track, answer the server's renegotiations.
 * @param {Awaited<ReturnType<typeof party>>} p @param {string} callId @param {(rtp: any) => void} onRtp
 */
async function joinMedia (p, callId, onRtp) {
  const pc = new RTCPeerConnection({ iceServers: [], iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'] })
  const track = new MediaStreamTrack({ kind: 'video' })
  pc.addTransceiver(track, { direction: 'sendrecv' })
  for (const t of pc.iceTransports) /** @type {any} */ (t.connection).stunServer = undefined
  pc.ontrack = ({ track: remote }) => { remote.onReceiveRtp.subscribe(onRtp) }
  /** @type {string[]} */
  const errors = []
  let chain = Promise.resolve()
  const signal = (/** @type {object} */ s) => p.mqtt.publish(`im/call/${callId}/signal`, JSON.stringify(s), 1)
  const l = (/** @type {any} */ msg) => {
    if (msg.type === 'error' && msg.ref === callId) errors.push(`${msg.error?.code} ${msg.error?.message}`)
    if (msg.type !== 'call.signal' || msg.callId !== callId) return
    const s = msg.signal
    chain = chain.then(async () => {
      if (s.type === 'answer') await pc.setRemoteDescription({ type: 'answer', sdp: s.sdp })
      else if (s.type === 'offer') {
        await pc.setRemoteDescription({ type: 'offer', sdp: s.sdp })
        await pc.setLocalDescription(await pc.createAnswer())
        signal({ type: 'answer', sdp: pc.localDescription?.sdp })
      }
    }).catch((/** @type {Error} */ err) => { errors.push(err.message) })
  }
  p.listeners.push(l)
  await pc.setLocalDescription(await pc.createOffer())
  await until(() => pc.iceGatheringState === 'complete', `${p.user} gathering`)
  signal({ type: 'offer', sdp: pc.localDescription?.sdp })
  return { pc, track, errors, leave: async () => { p.listeners.splice(p.listeners.indexOf(l), 1); await pc.close() } }
}

export function createInvite () {
  /** @type {Awaited<ReturnType<typeof party>>[]} */
  let parties = []
  return {
    /** @param {{ port: number, creds: { user: string, password: string }[] }} a */
    async setup (a) {
      parties = [await party(a.port, a.creds[0]), await party(a.port, a.creds[1])]
      return {}
    },

    /** @param {{ calls: number }} a */
    async run (a) {
      const [caller, callee] = parties
      const times = new LatencyRecorder()
      /** @type {string[]} */
      const failures = []
      for (let i = 0; i < a.calls; i++) {
        /** @type {any[]} */
        const media = []
        let firstAt = /** @type {bigint | null} */ (null)
        let callId = /** @type {string | null} */ (null)
        /** @type {NodeJS.Timeout | undefined} */
        let sender
        // The callee accepts as soon as it rings, then joins the media.
        const onRing = (/** @type {any} */ msg) => {
          if (msg.type !== 'call' || msg.event !== 'ring') return
          callee.listeners.splice(callee.listeners.indexOf(onRing), 1)
          callee.command('call.accept', { callId: msg.callId })
            .then(async () => { media.push(await joinMedia(callee, msg.callId, () => { firstAt ??= now() })) })
            .catch((/** @type {Error} */ err) => failures.push(`accept: ${err.message}`))
        }
        callee.listeners.push(onRing)
        const t0 = now()
        try {
          const invited = await caller.command('call.invite', { to: callee.user, media: { audio: false, video: true } })
          callId = invited.callId
          const m = await joinMedia(caller, /** @type {string} */ (callId), () => {})
          media.push(m)
          let seq = 1
          sender = setInterval(() => {
            const payload = Buffer.alloc(200)
            m.track.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq & 0xffff, timestamp: seq * 3000, ssrc: 777, marker: true }), payload))
            seq++
          }, 10)
          await until(() => firstAt !== null || failures.length > 0, 'the callee\'s first media packet', 30_000)
          if (firstAt !== null) times.add(Number(firstAt - t0) / 1000)
        } catch (err) {
          failures.push(`${/** @type {Error} */ (err).message}${media.flatMap((x) => x.errors).slice(0, 1).map((e) => ` (${e})`).join('')}`)
        } finally {
          if (sender !== undefined) clearInterval(sender)
          const i2 = callee.listeners.indexOf(onRing)
          if (i2 >= 0) callee.listeners.splice(i2, 1)
          if (callId !== null) await caller.command('call.hangup', { callId }).catch(() => {})
          await Promise.all(media.map((x) => x.leave()))
          await sleep(300)
        }
      }
      return { calls: a.calls, ok: times.length, failures: failures.slice(0, 3), failed: failures.length, times: times.summary(), p95: percentile(times, 0.95) }
    },

    async close () {
      await Promise.all(parties.map((p) => p.mqtt.end()))
      parties = []
      return {}
    }
  }
}

/** @param {LatencyRecorder} r @param {number} q */
function percentile (r, q) {
  if (r.length === 0) return null
  const s = r.values.slice(0, r.length).sort()
  return Math.round(s[Math.min(r.length - 1, Math.floor(q * r.length))]) / 1000
}
