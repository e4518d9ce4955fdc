import t, { type Test } from 'tap'
import { MediaServer, type Room } from '../../media/index.js'
import { Device, until } from './device.js'

function setup (t: Test, min: number): Room {
  const server = new MediaServer({ portRange: { min, max: min + 199 }, statsIntervalMs: 200 })
  t.teardown(() => server.close())
  return server.createRoom('room-' + min)
}

async function join (t: Test, room: Room, id: string, opts: { data?: boolean } = {}): Promise<Device> {
  const d = new Device(room.addPeer(id), opts)
  t.teardown(() => d.close())
  await d.offer()
  return d
}

/** Each of `devices` sends until every other device got its audio and video. */
async function allHearAll (devices: Map<string, Device>, tag: string): Promise<void> {
  for (const [id, d] of devices) {
    for (const kind of ['audio', 'video'] as const) {
      const payload = `${tag}:${id}:${kind}`
      await d.sendUntil(kind, payload, () => [...devices].every(([other, od]) =>
        other === id || od.liveFrom(id).some((r) => r.kind === kind && r.payloads.includes(payload))), payload)
    }
  }
}

t.test('a 3-party room forwards every track to every other peer', async (t) => {
  const room = setup(t, 42000)
  const devices = new Map<string, Device>()
  for (const id of ['a/1', 'b/1', 'c/1']) devices.set(id, await join(t, room, id))
  await until(() => [...devices].every(([id, d]) => [...devices.keys()].every((o) => o === id || d.liveFrom(o).length === 2)), 'all forwards')
  await allHearAll(devices, 'three')
  for (const [id, d] of devices) {
    t.same(new Set(d.received.map((r) => r.streamId)), new Set([...devices.keys()].filter((o) => o !== id)), `${id} receives the two others`)
  }
})

t.test('a 4th peer joining mid-call gets the existing tracks and the others get its tracks', async (t) => {
  const room = setup(t, 42200)
  const devices = new Map<string, Device>()
  for (const id of ['a/1', 'b/1', 'c/1']) devices.set(id, await join(t, room, id))
  await allHearAll(devices, 'before')
  devices.set('d/1', await join(t, room, 'd/1'))
  await allHearAll(devices, 'after')
  t.equal(devices.get('d/1')!.received.length, 6, 'the newcomer got 3 peers x 2 tracks')
})

t.test('a peer leaving removes its tracks from the others by renegotiation', async (t) => {
  const room = setup(t, 42400)
  const devices = new Map<string, Device>()
  for (const id of ['a/1', 'b/1', 'c/1']) devices.set(id, await join(t, room, id))
  await allHearAll(devices, 'before')
  const left: string[] = []
  room.on('peerLeft', (p) => left.push(p.id))
  const offersBefore = devices.get('a/1')!.serverSignals.filter((s) => s.type === 'offer').length
  await room.peer('c/1')!.close()
  t.same(left, ['c/1'])
  for (const id of ['a/1', 'b/1']) {
    await until(() => devices.get(id)!.liveFrom('c/1').length === 0, `${id} sees c/1's tracks gone`)
  }
  t.ok(devices.get('a/1')!.serverSignals.filter((s) => s.type === 'offer').length > offersBefore, 'the server offered again')
  devices.delete('c/1')
  await allHearAll(devices, 'after')
  t.same(room.peers().map((p) => p.id).sort(), ['a/1', 'b/1'])
})

t.test('data channel messages from one device reach the other peers on the same label', async (t) => {
  const room = setup(t, 42600)
  const a = await join(t, room, 'a/1', { data: true })
  const b = await join(t, room, 'b/1', { data: true })
  const c = await join(t, room, 'c/1', { data: true })
  await until(() => [a, b, c].every((d) => d.channel!.readyState === 'open'), 'channels open')
  let n = 0
  await until(() => {
    a.channel!.send(`hello ${n++}`)
    return b.messages.some((m) => m.startsWith('hello')) && c.messages.some((m) => m.startsWith('hello'))
  }, 'relayed messages')
  t.notOk(a.messages.some((m) => m.startsWith('hello')), 'the sender does not get its own messages back')
})

t.test('room.stats() and the stats event report per-track packets, bytes, loss, jitter, RTT and bitrate', async (t) => {
  const room = setup(t, 42800)
  const devices = new Map<string, Device>()
  for (const id of ['a/1', 'b/1']) devices.set(id, await join(t, room, id))
  await allHearAll(devices, 'stats')
  const a = devices.get('a/1')!
  let i = 0
  // keep media flowing until receiver reports (RTT) come back for a's forwarded copies
  await a.sendUntil('video', 'x', () => {
    i++
    const s = room.stats().peers.find((p) => p.peerId === 'b/1')
    return s !== undefined && s.tracks.some((tr) => tr.direction === 'out' && tr.source === 'a/1' && tr.kind === 'video' && tr.rttMs !== null && tr.bitrateKbps > 0)
  }, 'RTT from receiver reports')
  t.ok(i > 0)
  const s = room.stats()
  t.equal(s.roomId, room.id)
  const aIn = s.peers.find((p) => p.peerId === 'a/1')!.tracks.find((tr) => tr.direction === 'in' && tr.kind === 'video')!
  t.ok(aIn.packets > 10 && aIn.bytes > 10, 'incoming packets and bytes are counted')
  t.equal(aIn.source, 'a/1')
  for (const k of ['packetsLost', 'lossRate', 'jitterMs', 'bitrateKbps'] as const) t.type(aIn[k], 'number', `in.${k}`)
  const bOut = s.peers.find((p) => p.peerId === 'b/1')!.tracks.find((tr) => tr.direction === 'out' && tr.source === 'a/1' && tr.kind === 'video')!
  t.ok(bOut.packets > 10, 'forwarded packets are counted')
  t.type(bOut.rttMs, 'number')
  const event = await new Promise<Parameters<Parameters<Room['on']>[1]>[0]>((resolve) => room.once('stats', resolve as never))
  t.equal((event as { roomId: string }).roomId, room.id, 'a periodic stats event arrives')
})
