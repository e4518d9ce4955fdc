// Calls over a lossy network: werift devices in a network namespace reach
// Hail's MediaServer across a veth pair whose UDP loses 10 % at random in each
// direction (nftables numgen; netem is not in every kernel). Needs root and
// Debian's iproute2 + nftables (test/run.sh installs them); skipped otherwise.
//
// Figures (this machine, 10 % loss each way; one plain RTCPeerConnection on
// each side of the link per attempt, no MediaServer):
//   plain werift on both ends                       17/30 and 42/60 connected
//   media/dtls-loss-repair.ts on both ends          30/30
//   repair on the server end only (devices plain)   30/30 and 60/60
// This file, 20 calls = 40 DTLS handshakes: 20/20 calls with the repair wired
// into media/peer.ts, 9/20 with that one line commented out.
// The MediaServer answers, so it is the DTLS client and a werift device the
// DTLS server; the server's whole-flight datagrams spare the device's bugs.
// A werift device that ends up DTLS client should install the repair too (it
// is werift-only code): the server cannot stop a plain werift client from
// throwing on a repeated HelloVerifyRequest (seen when the client's event
// loop stalls for half a second). See media/dtls-loss-repair.ts.
import t from 'tap'
import { MediaServer } from '../../media/index.js'
import { LossyLink, netnsUnavailable } from '../helpers/netns.js'
import { waitFor } from '../helpers/wait-for.js'
import { WeriftDevices } from '../helpers/werift-device.js'
import type { Peer } from '../../media/index.js'

const CALLS = 20
const PARALLEL = 5
const LOSS_PERCENT = 10
/** 50 packets a second flow for at least 2 s after connecting; each crosses the lossy link twice. */
const MIN_PACKETS = 40

const skip = netnsUnavailable()

interface CallResult { connected: boolean, received: number[], states: string[][] }

/** Relay one server peer's signals to its device and back (the device offers first). */
async function connectDevice (devices: WeriftDevices, peer: Peer, id: string): Promise<void> {
  peer.on('signal', (s) => {
    if (s.type === 'answer') devices.answer(id, s.sdp)
    else if (s.type === 'offer') {
      devices.offer(id, s.sdp)
        .then(async (sdp) => await peer.signal({ type: 'answer', sdp }))
        .catch((err) => devices.errors.push(`${id}: re-offer: ${String(err)}`))
    }
  })
  const offer = await devices.call(id)
  await peer.signal({ type: 'offer', sdp: offer })
}

async function oneCall (server: MediaServer, devices: WeriftDevices, n: number): Promise<CallResult> {
  const room = server.createRoom(`call-${n}`)
  const ids = [`alice/${n}`, `bob/${n}`]
  try {
    const peers = ids.map((id) => room.addPeer(id))
    await Promise.all(ids.map(async (id, i) => await connectDevice(devices, peers[i]!, id)))
    const settled = (id: string, i: number): boolean => {
      const device = devices.states(id)
      return (device.includes('connected') && peers[i]!.state === 'connected') ||
        device.includes('failed') || peers[i]!.state === 'failed'
    }
    // werift gives a DTLS handshake up after 11 sends over 33 s: wait longer than that
    await waitFor(() => ids.every(settled), `call ${n} to connect or fail`, 90_000)
    const connected = ids.every((id, i) => devices.states(id).includes('connected') && peers[i]!.state === 'connected')
    if (connected) {
      await waitFor(async () => {
        const stats = await Promise.all(ids.map(async (id) => await devices.stats(id)))
        return stats.every((s) => s.received >= MIN_PACKETS)
      }, `media to flow both ways in call ${n}`, 60_000).catch(() => {})
    }
    const received = await Promise.all(ids.map(async (id) => (await devices.stats(id)).received))
    return { connected, received, states: ids.map((id) => devices.states(id)) }
  } finally {
    await Promise.all(ids.map(async (id) => await devices.hangUp(id).catch(() => {})))
    await room.close()
  }
}

t.test(`at ${LOSS_PERCENT} % random UDP loss each way, ${CALLS} two-party calls through the MediaServer all connect and carry media both ways`, { skip }, async (t) => {
  const link = await LossyLink.create({ udpLossPercent: LOSS_PERCENT })
  t.teardown(async () => await link.close())
  // plain werift devices (no repair of their own), as someone else's app would run
  const devices = await WeriftDevices.start(link)
  t.teardown(async () => await devices.close())
  const base = 42000 + Math.floor(Math.random() * 200) * 20
  const server = new MediaServer({
    listenAddress: link.hostAddress,
    announcedAddresses: [link.hostAddress],
    portRange: { min: base, max: base + 999 },
    statsIntervalMs: 0
  })
  t.teardown(async () => await server.close())

  const results: CallResult[] = []
  let next = 0
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (next < CALLS) {
      const n = next++
      results[n] = await oneCall(server, devices, n)
    }
  }))

  const dropped = await link.dropped()
  const connected = results.filter((r) => r.connected).length
  const flowing = results.filter((r) => r.connected && r.received.every((p) => p >= MIN_PACKETS)).length
  t.comment(`${connected}/${CALLS} calls connected, ${flowing}/${CALLS} carried >= ${MIN_PACKETS} packets each way; ` +
    `nftables dropped ${dropped.in} datagrams into the namespace and ${dropped.out} out of it`)
  t.ok(dropped.in > 0 && dropped.out > 0, 'the link really lost UDP both ways')
  t.equal(connected, CALLS, 'every call connected', {
    failed: results.map((r, n) => ({ n, ...r })).filter((r) => !r.connected)
  })
  t.equal(flowing, CALLS, 'media flowed both ways in every call', {
    received: results.map((r) => r.received)
  })
  t.same(devices.errors, [], 'the devices saw no signaling errors')
})
