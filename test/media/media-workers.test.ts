import dgram from 'node:dgram'
import { Writable } from 'node:stream'
import pino from 'pino'
import t, { type Test } from 'tap'
import { MediaError, MediaWorkers, type Peer, type RemotePeer, type RemoteRoom } from '../../media/index.js'
import { Device, until } from './device.js'

const got = (d: Device, from: string, kind: string, p: string) => () => d.liveFrom(from).some((r) => r.kind === kind && r.payloads.includes(p))

/** Two werift devices in a room of the pool, each one's audio and video at the other. */
async function call (t: Test, room: RemoteRoom, tag: string): Promise<[Device, Device]> {
  const a = new Device(room.addPeer(`a/${tag}`) as unknown as Peer)
  const b = new Device(room.addPeer(`b/${tag}`) as unknown as Peer)
  t.teardown(async () => { await a.close(); await b.close() })
  await a.offer()
  await b.offer()
  await until(() => a.liveFrom(`b/${tag}`).length === 2 && b.liveFrom(`a/${tag}`).length === 2, `forwarded tracks in ${room.id}`)
  for (const kind of ['audio', 'video'] as const) {
    await a.sendUntil(kind, `a-${kind}-${tag}`, got(b, `a/${tag}`, kind, `a-${kind}-${tag}`), `a's ${kind} at b in ${room.id}`)
    await b.sendUntil(kind, `b-${kind}-${tag}`, got(a, `b/${tag}`, kind, `b-${kind}-${tag}`), `b's ${kind} at a in ${room.id}`)
  }
  return [a, b]
}

t.test('two rooms land on two workers, both carry media both ways, stats come from the workers and logs name the worker', async (t) => {
  const lines: any[] = []
  const logger = pino({ level: 'debug' }, new Writable({ write (chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done() } }))
  const server = new MediaWorkers({ workers: 2, portRange: { min: 48400, max: 48499 }, statsIntervalMs: 200, logger })
  t.teardown(() => server.close())
  t.equal(server.size, 2)
  const one = server.createRoom('one')
  const two = server.createRoom('two')
  t.not(one.worker, two.worker, `the rooms are on different workers (${one.worker}, ${two.worker})`)
  t.same(server.workers().map((w) => w.rooms), [1, 1], 'one room each')
  t.not(server.workers()[0]!.threadId, server.workers()[1]!.threadId, 'two threads')
  await Promise.all([call(t, one, '1'), call(t, two, '2')])
  t.pass('each room carried audio and video both ways')

  const stats = await one.stats()
  t.equal(stats.roomId, 'one')
  const b1 = stats.peers.find((p) => p.peerId === 'b/1')!
  t.ok(b1.tracks.some((tr) => tr.direction === 'in' && tr.packets > 0), 'room.stats() reads the worker\'s counters')
  const event = await new Promise<any>((resolve) => two.once('stats', resolve))
  t.equal(event.roomId, 'two', 'periodic stats events reach the main thread')

  const peerAdded = lines.find((l) => l.msg === 'peer added' && l.peer === 'a/2')
  t.match(peerAdded, { worker: two.worker, room: 'two' }, 'a line logged in a worker carries its worker and room')
  t.ok(lines.some((l) => l.msg === 'room placed' && l.room === 'one' && l.worker === one.worker), 'placement is logged')

  t.throws(() => server.createRoom('one'), { code: 'HAIL_ERR_MEDIA_STATE' }, 'a room id in use is refused')
  t.throws(() => one.addPeer('a/1'), { code: 'HAIL_ERR_MEDIA_STATE' }, 'a peer id in use is refused')
  await t.rejects(one.peer('a/1')!.signal({ type: 'answer', sdp: 'v=0' }), { code: 'HAIL_ERR_SDP' }, 'the worker\'s MediaError reaches the caller with its code')
  await t.rejects(one.peer('a/1')!.signal({ type: 'offer', sdp: (() => {}) as never }), { code: 'HAIL_ERR_SIGNAL_STATE' }, 'a signal that cannot cross to the worker is refused')
})

t.test('a worker killed mid-call ends its room only: the room emits lost, the other room goes on, a new worker takes the place', async (t) => {
  const server = new MediaWorkers({ workers: 2, portRange: { min: 48500, max: 48599 }, statsIntervalMs: 0 })
  t.teardown(() => server.close())
  const doomed = server.createRoom('doomed')
  const lives = server.createRoom('lives')
  const [da] = await call(t, doomed, 'd')
  const [la, lb] = await call(t, lives, 'l')
  const lost: MediaError[] = []
  const closed: string[] = []
  doomed.on('lost', (err) => lost.push(err))
  doomed.on('close', () => closed.push('room'))
  for (const p of doomed.peers()) (p as RemotePeer).on('close', () => closed.push(p.id))
  const before = server.workers()[doomed.worker]!.threadId
  const losses: unknown[] = []
  server.on('workerLost', (l) => losses.push(l))
  await server.killWorker(doomed.worker)
  await until(() => closed.includes('room'), 'the doomed room to close')
  t.equal(lost.length, 1, 'the room emitted lost once')
  t.ok(lost[0] instanceof MediaError && lost[0].code === 'HAIL_ERR_MEDIA', 'with a MediaError')
  t.match(lost[0]!.message, new RegExp(`media worker ${doomed.worker} stopped`), `a clear reason: ${lost[0]!.message}`)
  t.same(closed.sort(), ['a/d', 'b/d', 'room'], 'its peers and the room closed')
  t.same(losses, [{ worker: doomed.worker, rooms: 1, reason: 'exit code 1' }], 'the pool tells who was lost')
  t.equal(server.room('doomed'), undefined, 'the room is gone from the pool')
  await t.rejects(da.peer.signal({ type: 'candidate', candidate: { candidate: '' } }), { code: 'HAIL_ERR_SIGNAL_STATE' }, 'a signal to a lost peer is refused')

  await la.sendUntil('audio', 'after-kill', got(lb, 'a/l', 'audio', 'after-kill'), 'media in the other room after the kill')
  t.pass('the room on the other worker still carries media')

  await until(() => server.workers()[doomed.worker]!.threadId !== undefined && server.workers()[doomed.worker]!.threadId !== before, 'a new worker')
  const again = server.createRoom('doomed')
  t.equal(again.worker, doomed.worker, 'the next room goes to the new, empty worker')
  await call(t, again, 'n')
  t.pass('the new worker carries a call')
})

t.test('close() closes every room and peer on every worker and stops the threads; the ports are free after', async (t) => {
  const server = new MediaWorkers({ workers: 2, portRange: { min: 48400, max: 48403 }, statsIntervalMs: 0 })
  const rooms = [server.createRoom('x'), server.createRoom('y')]
  const closes: string[] = []
  const devices: Device[] = []
  for (const room of rooms) {
    room.on('close', () => closes.push(room.id))
    const d = new Device(room.addPeer(`d/${room.id}`) as unknown as Peer)
    devices.push(d)
    room.peer(`d/${room.id}`)!.on('close', () => closes.push(`d/${room.id}`))
  }
  t.teardown(async () => { for (const d of devices) await d.close() })
  await Promise.all(devices.map(async (d) => await d.offer()))
  await until(() => rooms.every((r) => r.peers()[0]!.state === 'connected'), 'peers connected')
  let serverClosed = 0
  server.on('close', () => serverClosed++)
  await Promise.all([server.close(), server.close()])
  t.same(closes.sort(), ['d/x', 'd/y', 'x', 'y'], 'every peer and room closed')
  t.equal(serverClosed, 1, 'close emitted once')
  t.throws(() => server.createRoom('z'), { code: 'HAIL_ERR_MEDIA_STATE' })
  for (let port = 48400; port <= 48403; port++) {
    const s = dgram.createSocket('udp4')
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(port, '0.0.0.0', () => resolve()) })
    s.close()
  }
  t.pass('every port of the range can be bound again')
})
