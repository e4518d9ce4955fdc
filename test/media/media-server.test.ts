import dgram from 'node:dgram'
import dns from 'node:dns'
import t from 'tap'
import { MediaServer } from '../../media/index.js'
import { Device, until } from './device.js'

t.test('a 1:1 call: RTP sent by each side arrives at the other through the SFU', async (t) => {
  const server = new MediaServer({ portRange: { min: 41000, max: 41999 }, statsIntervalMs: 0 })
  t.teardown(() => server.close())
  const room = server.createRoom('call-1')
  const alice = new Device(room.addPeer('alice/phone'))
  const bob = new Device(room.addPeer('bob/laptop'))
  t.teardown(async () => { await alice.close(); await bob.close() })
  await alice.offer()
  await bob.offer()
  await until(() => alice.liveFrom('bob/laptop').length === 2 && bob.liveFrom('alice/phone').length === 2, 'forwarded tracks')
  const got = (d: Device, from: string, kind: string, p: string) => () => d.liveFrom(from).some((r) => r.kind === kind && r.payloads.includes(p))
  await alice.sendUntil('audio', 'alice-audio', got(bob, 'alice/phone', 'audio', 'alice-audio'), 'alice audio at bob')
  await alice.sendUntil('video', 'alice-video', got(bob, 'alice/phone', 'video', 'alice-video'), 'alice video at bob')
  await bob.sendUntil('audio', 'bob-audio', got(alice, 'bob/laptop', 'audio', 'bob-audio'), 'bob audio at alice')
  await bob.sendUntil('video', 'bob-video', got(alice, 'bob/laptop', 'video', 'bob-video'), 'bob video at alice')
  t.pass('each side received the other side\'s audio and video payloads')
})

t.test('createRoom() with an id in use throws HAIL_ERR_MEDIA_STATE; iceServers are handed out as given', async (t) => {
  const iceServers = [{ urls: 'turn:turn.invalid:3478', username: 'u', credential: 'p' }]
  const server = new MediaServer({ portRange: { min: 41100, max: 41109 }, iceServers, statsIntervalMs: 0 })
  t.teardown(() => server.close())
  const room = server.createRoom('r')
  t.equal(server.room('r'), room)
  t.throws(() => server.createRoom('r'), { code: 'HAIL_ERR_MEDIA_STATE' })
  t.throws(() => room.addPeer(''), { code: 'HAIL_ERR_MEDIA_STATE' })
  room.addPeer('x/1')
  t.throws(() => room.addPeer('x/1'), { code: 'HAIL_ERR_MEDIA_STATE' })
  t.same(server.iceServers, iceServers)
  t.throws(() => new MediaServer({ portRange: { min: 5, max: 1 } }), { code: 'HAIL_ERR_MEDIA_STATE' })
})

t.test('the server gathers only host candidates on its announced address, in its port range, and sends nothing off loopback', async (t) => {
  const sent: string[] = []
  const original = dgram.Socket.prototype.send
  // record every UDP destination in this process (the server and the test devices)
  dgram.Socket.prototype.send = function (this: dgram.Socket, ...args: unknown[]) {
    const port = args.find((a, i) => i > 0 && typeof a === 'number' && typeof args[i + 1] === 'string')
    const host = args[args.indexOf(port) + 1]
    if (typeof host === 'string') sent.push(host)
    return (original as (...a: unknown[]) => void).apply(this, args)
  } as typeof original
  t.teardown(() => { dgram.Socket.prototype.send = original })
  // werift resolves STUN host names itself before sending (offline that fails
  // fast and no datagram leaves), so record name lookups as well
  const lookup = dns.promises.lookup
  dns.promises.lookup = ((host: string, ...rest: unknown[]) => {
    sent.push(host)
    return (lookup as (...a: unknown[]) => unknown)(host, ...rest)
  }) as typeof lookup
  t.teardown(() => { dns.promises.lookup = lookup })
  const server = new MediaServer({ portRange: { min: 41200, max: 41219 }, announcedAddresses: ['127.0.0.1'], statsIntervalMs: 0 })
  t.teardown(() => server.close())
  const room = server.createRoom('net')
  const a = new Device(room.addPeer('a/1'))
  const b = new Device(room.addPeer('b/1'))
  t.teardown(async () => { await a.close(); await b.close() })
  await a.offer()
  await b.offer()
  await a.sendUntil('audio', 'ping', () => b.liveFrom('a/1').some((r) => r.payloads.includes('ping')), 'media')
  const answer = a.serverSignals.find((s) => s.type === 'answer')
  t.ok(answer !== undefined && answer.type === 'answer')
  const candidates = (answer as { sdp: string }).sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'))
  t.ok(candidates.length > 0, 'the answer carries candidates')
  for (const c of candidates) {
    const [, , , , address, port, , type] = c.split(' ')
    t.equal(address, '127.0.0.1', 'announced address')
    t.equal(type, 'host', 'host candidate only')
    t.ok(Number(port) >= 41200 && Number(port) <= 41219, `port ${port} in range`)
  }
  t.ok(sent.length > 0, 'UDP traffic was recorded')
  t.same([...new Set(sent)], ['127.0.0.1'], 'every UDP datagram and name lookup went to loopback (no STUN query to stun.l.google.com)')
})

t.test('with the default listen address the server answers ICE checks from the announced address the device sent them to', async (t) => {
  // 127.0.0.2 is announced, the device's socket (0.0.0.0) sends from 127.0.0.1: a reply from a
  // wildcard socket would leave with source 127.0.0.1, which a browser discards (RFC 8445 7.2.5.2.1)
  const server = new MediaServer({ portRange: { min: 41400, max: 41419 }, announcedAddresses: ['127.0.0.2'], statsIntervalMs: 0 })
  t.teardown(() => server.close())
  const room = server.createRoom('src')
  const a = new Device(room.addPeer('a/1'))
  const b = new Device(room.addPeer('b/1'))
  t.teardown(async () => { await a.close(); await b.close() })
  const sources = new Set<string>()
  let datagrams = 0
  const record = (d: Device) => () => {
    for (const transport of d.pc.iceTransports) {
      for (const p of (transport.connection as unknown as { protocols: Array<{ transport?: { socket?: dgram.Socket } }> }).protocols) {
        p.transport?.socket?.on('message', (_msg, rinfo) => { datagrams++; sources.add(`${rinfo.address}`) })
      }
    }
  }
  await a.offer(record(a))
  await b.offer(record(b))
  await a.sendUntil('audio', 'via-127.0.0.2', () => b.liveFrom('a/1').some((r) => r.payloads.includes('via-127.0.0.2')), 'media')
  const answer = a.serverSignals.find((s) => s.type === 'answer') as { sdp: string }
  const hosts = answer.sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:')).map((l) => l.split(' ')[4])
  t.same([...new Set(hosts)], ['127.0.0.2'], 'the server announces 127.0.0.2')
  t.ok(datagrams > 0, `the devices received ${datagrams} datagrams`)
  t.same([...sources], ['127.0.0.2'], 'every datagram the devices received came from the announced address')
})

t.test('close() cascades server -> rooms -> peers, emits close once each, and frees sockets and timers', async (t) => {
  // earlier tests' devices release their sockets asynchronously
  const busy = (r: string) => r === 'UDPWrap' || r === 'Timeout'
  await until(() => !process.getActiveResourcesInfo().some(busy), 'earlier sockets and timers released', 30_000).catch(() => {})
  const baseline = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').sort()
  const min = 41300
  const server = new MediaServer({ portRange: { min, max: min + 9 }, statsIntervalMs: 100 })
  const room = server.createRoom('c')
  const a = new Device(room.addPeer('a/1'))
  const b = new Device(room.addPeer('b/1'))
  await a.offer()
  await b.offer()
  await a.sendUntil('audio', 'x', () => b.liveFrom('a/1').some((r) => r.payloads.includes('x')), 'media')
  const closes: string[] = []
  server.on('close', () => closes.push('server'))
  room.on('close', () => closes.push('room'))
  for (const p of room.peers()) p.on('close', () => closes.push(p.id))
  const states: string[] = []
  room.peer('a/1')!.on('state', (s) => states.push(s))
  await Promise.all([server.close(), server.close()])
  await server.close()
  t.same(closes.sort(), ['a/1', 'b/1', 'room', 'server'], 'each closed once')
  t.same(states, ['closed'])
  t.equal(server.room('c'), undefined)
  t.throws(() => server.createRoom('d'), { code: 'HAIL_ERR_MEDIA_STATE' })
  await a.close()
  await b.close()
  // every port of the range can be bound again: no server socket leaked
  for (let port = min; port <= min + 9; port++) {
    const s = dgram.createSocket('udp4')
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(port, '0.0.0.0', resolve) })
    await new Promise<void>((resolve) => s.close(() => resolve()))
  }
  const count = (list: string[]) => ({ udp: list.filter((r) => r === 'UDPWrap').length, timers: list.filter((r) => r === 'Timeout').length })
  let now = count([])
  await until(() => {
    now = count(process.getActiveResourcesInfo())
    const before = count(baseline)
    return now.udp <= before.udp && now.timers <= before.timers
  }, 'active resources back to baseline', 20_000).catch(() => {})
  t.ok(now.udp <= count(baseline).udp && now.timers <= count(baseline).timers,
    `UDP sockets and timers back to the baseline (${JSON.stringify(now)} vs ${JSON.stringify(count(baseline))})`)
})
