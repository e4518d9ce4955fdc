import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from 'werift'
import { HailClient, type Call, type PeerConnectionFactory, type PeerConnectionLike } from '../../client/index.js'
import { Daemon, addUser } from '../helpers/daemon.js'

// The SDK in Node, with werift as its WebRTC, calling through a real `hail`
// daemon (MQTT signaling, the bridge, the SFU): what a bot or a Node app does.

interface Device { factory: PeerConnectionFactory, send: (payload: string) => void, received: string[] }

/** A werift device that sends one video track of synthetic RTP and records what it receives. */
function device (): Device {
  const received: string[] = []
  const track = new MediaStreamTrack({ kind: 'video' })
  let seq = 100
  return {
    received,
    send: (payload) => {
      seq++
      track.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc: 4321, marker: true }), Buffer.from(payload)))
    },
    factory: ({ iceServers }) => {
      const pc = new RTCPeerConnection({ iceServers, iceUseIpv6: false, iceInterfaceAddresses: { udp4: '127.0.0.1' }, iceAdditionalHostAddresses: ['127.0.0.1'] })
      pc.addTransceiver(track, { direction: 'sendrecv' })
      // Tests touch loopback only: werift would otherwise ask its built-in public STUN server.
      const setLocal = pc.setLocalDescription.bind(pc)
      pc.setLocalDescription = (async (d?: Parameters<typeof setLocal>[0]) => {
        for (const transport of pc.iceTransports) (transport.connection as unknown as { stunServer: unknown }).stunServer = undefined
        return await setLocal(d)
      }) as typeof pc.setLocalDescription
      pc.onTrack.subscribe((remote) => remote.onReceiveRtp.subscribe((rtp) => received.push(rtp.payload.toString())))
      return pc as unknown as PeerConnectionLike
    }
  }
}

async function until (what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

t.test('two Node devices call through a hail daemon with the SDK and werift; RTP flows both ways; hangup ends both', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-sdk-call-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await addUser(dir, 'alice', 'alice-password')
  await addUser(dir, 'bob', 'bob-password')
  const portMin = 42000 + Math.floor(Math.random() * 60) * 100
  const { daemon, addresses } = await Daemon.start(['--data', dir, '--mqtt-port', '0', '--http-port', '0', '--host', '127.0.0.1',
    '--media-port-min', String(portMin), '--media-port-max', String(portMin + 99), '--media-announce', '127.0.0.1', '--media-listen', '127.0.0.1'])
  t.teardown(() => daemon.stop())
  const url = `mqtt://127.0.0.1:${addresses.mqtt!.port}`
  const alice = await HailClient.connect({ url, user: 'alice', device: 'node', password: 'alice-password', clean: true })
  t.teardown(() => alice.close())
  const bob = await HailClient.connect({ url, user: 'bob', device: 'node', password: 'bob-password', clean: true })
  t.teardown(() => bob.close())
  const errors: string[] = []
  for (const c of [alice, bob]) {
    c.on('error', (err) => errors.push(`${c.user}: ${err.code} ${err.message}`))
    c.calls.on('error', (err) => errors.push(`${c.user} calls: ${err.code} ${err.message}`))
  }
  const a = device()
  const b = device()

  const incoming = new Promise<Call>((resolve) => bob.calls.once('incoming', resolve))
  const placed = await alice.calls.place({ to: 'bob', media: { audio: false, video: true }, peer: a.factory })
  placed.on('error', (err) => errors.push(`alice call: ${err.code} ${err.message}`))
  const ringing = await incoming
  t.equal(ringing.id, placed.id, 'bob is rung for alice\'s call')
  t.equal(ringing.from, 'alice')
  const accepted = new Promise<{ by?: string }>((resolve) => placed.once('accepted', resolve))
  await ringing.answer({ peer: b.factory })
  ringing.on('error', (err) => errors.push(`bob call: ${err.code} ${err.message}`))
  t.same(await accepted, { by: 'bob/node' }, 'alice hears that bob/node accepted')

  // Each side keeps sending until the other has received something.
  const pump = setInterval(() => { a.send('from-alice'); b.send('from-bob') }, 50)
  t.teardown(() => clearInterval(pump))
  try {
    await until('alice\'s RTP at bob', () => b.received.includes('from-alice'))
    await until('bob\'s RTP at alice', () => a.received.includes('from-bob'))
  } catch (err) {
    throw new Error(`${(err as Error).message}; errors: ${errors.join('; ')}; states ${placed.state}/${ringing.state}`)
  }
  clearInterval(pump)
  t.pass('RTP flowed both ways through the SFU')
  t.equal(placed.state, 'active')
  t.equal(ringing.state, 'active')

  const bobEnded = new Promise<{ reason: string }>((resolve) => ringing.once('ended', resolve))
  await placed.hangup()
  t.equal(placed.state, 'ended')
  t.equal((await bobEnded).reason, 'hangup', 'bob\'s side ends with the reason the server gave')
  t.same(errors, [], 'no errors on either side')
})
