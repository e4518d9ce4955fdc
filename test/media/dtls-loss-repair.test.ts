// The DTLS loss repair on werift's own DTLS, without a network: two
// RTCDtlsTransports joined by an in-memory datagram link that loses exactly
// the datagrams a test names. (test/media/loss.test.ts measures random loss
// in a real network namespace.)
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import t from 'tap'
import { RTCDtlsParameters, RTCDtlsTransport } from 'werift'
import { packDtlsFlights } from '../../media/dtls-flight-packing.js'
import { orderDtlsHandshakes } from '../../media/dtls-handshake-order.js'
import { dtlsRetransmitsRenumbered } from '../../media/dtls-retransmit-renumber.js'
import {
  DTLS_LOSS_REPAIR_WERIFT, dtlsUnrepairableCount, installDtlsLossRepair, isDtlsLossRepaired, repairDtlsSocket
} from '../../media/dtls-loss-repair.js'
import { waitFor } from '../helpers/wait-for.js'

const HANDSHAKE = 22
const CERTIFICATE = 11
const HELLO_DONE = 14

/** One DTLS record of a datagram: content type, epoch, sequence number, and the handshake type when readable (epoch 0). */
interface RecordInfo { type: number, epoch: number, seq: number, handshake?: number }

function records (datagram: Buffer): RecordInfo[] {
  const out: RecordInfo[] = []
  for (let at = 0; at + 13 <= datagram.length;) {
    const type = datagram[at]!
    const epoch = datagram.readUInt16BE(at + 3)
    const seq = datagram.readUIntBE(at + 5, 6)
    const length = datagram.readUInt16BE(at + 11)
    out.push({ type, epoch, seq, handshake: type === HANDSHAKE && epoch === 0 ? datagram[at + 13] : undefined })
    at += 13 + length
  }
  return out
}

type Direction = 'toServer' | 'toClient'
type Drop = (direction: Direction, datagram: Buffer) => boolean

/** What werift's RTCDtlsTransport uses of an ICE transport, joined to another in memory. */
function memoryLink (drop: Drop): { client: object, server: object, sent: Record<Direction, Buffer[]> } {
  const sent: Record<Direction, Buffer[]> = { toServer: [], toClient: [] }
  const listeners: Record<Direction, Array<(b: Buffer) => void>> = { toServer: [], toClient: [] }
  const end = (role: string, outgoing: Direction, incoming: Direction): object => ({
    role,
    state: 'connected',
    stop: async () => {},
    connection: {
      onData: {
        subscribe: (fn: (b: Buffer) => void) => {
          listeners[incoming].push(fn)
          return { unSubscribe: () => {} }
        }
      },
      send: async (buf: Buffer) => {
        sent[outgoing].push(buf)
        if (drop(outgoing, buf)) return
        setImmediate(() => { for (const l of listeners[outgoing]) l(buf) })
      },
      close: () => {}
    }
  })
  return { client: end('controlled', 'toServer', 'toClient'), server: end('controlling', 'toClient', 'toServer'), sent }
}

/** Loses the first datagram `match` selects in `direction`, and nothing else. */
function loseFirst (direction: Direction, match: (r: RecordInfo[]) => boolean): Drop {
  let lost = false
  return (d, datagram) => {
    if (lost || d !== direction || !match(records(datagram))) return false
    lost = true
    return true
  }
}

/**
 * A receiver's replay window (RFC 6347 section 4.1.2.6, as BoringSSL keeps it):
 * a datagram toward `direction` whose records' (epoch, number) were all seen
 * before is dropped.
 */
function replayWindow (direction: Direction): Drop {
  const seen = new Set<string>()
  return (d, datagram) => {
    if (d !== direction) return false
    const keys = records(datagram).map((r) => `${r.epoch}/${r.seq}`)
    if (keys.every((k) => seen.has(k))) return true
    for (const k of keys) seen.add(k)
    return false
  }
}

const both = (...drops: Drop[]): Drop => (d, datagram) => drops.some((drop) => drop(d, datagram))
/** The server's last flight: its encrypted Finished (epoch 1) toward the client. */
const serverFinished = (r: RecordInfo[]): boolean => r.some((x) => x.type === HANDSHAKE && x.epoch === 1)

type Repair = (socket: unknown) => unknown
interface Pair { client: RTCDtlsTransport, server: RTCDtlsTransport, sent: Record<Direction, Buffer[]> }

/** A DTLS client and server over the memory link; `repair` applies to each socket as werift builds it. */
async function handshake (drop: Drop, repair: { client?: Repair, server?: Repair }): Promise<Pair> {
  const certificate = await RTCDtlsTransport.SetupCertificate()
  const link = memoryLink(drop)
  const make = (ice: object, role: 'client' | 'server'): RTCDtlsTransport => {
    const transport = new RTCDtlsTransport({} as never, ice as never, certificate, [])
    transport.role = role
    transport.setRemoteParams(new RTCDtlsParameters(certificate.getFingerprints(), 'auto'))
    return transport
  }
  const pair = { client: make(link.client, 'client'), server: make(link.server, 'server'), sent: link.sent }
  for (const side of ['server', 'client'] as const) {
    const transport = pair[side]
    transport.start().catch(() => {}) // the outcome is read from transport.state
    repair[side]?.((transport as unknown as { dtls: unknown }).dtls)
  }
  return pair
}

const settled = (p: Pair) => () => [p.client.state, p.server.state].every((s) => s === 'connected' || s === 'failed')
const WAIT = 60_000 // werift gives up after 11 sends over 33 s

t.test(`the repair is written for werift ${DTLS_LOSS_REPAIR_WERIFT}, and that is the werift installed`, async (t) => {
  const require = createRequire(import.meta.url)
  const main = require.resolve('werift')
  const pkg = JSON.parse(readFileSync(main.replace(/lib[/\\]webrtc[/\\]src[/\\]index\.js$/, 'package.json'), 'utf8')) as { version: string }
  t.equal(pkg.version, DTLS_LOSS_REPAIR_WERIFT, 'on another werift, re-read its DTLS code (media/dtls-loss-repair.ts) before moving the pin')
})

t.test('plain werift fails the handshake when the client\'s Certificate datagram is lost once', async (t) => {
  // the tripwire for the bug itself: if werift fixes it, this fails and the repair can go
  const pair = await handshake(loseFirst('toServer', (r) => r.some((x) => x.handshake === CERTIFICATE)), {})
  await waitFor(() => pair.server.state === 'failed' || pair.server.state === 'connected', 'the server\'s handshake to end', WAIT)
  t.equal(pair.server.state, 'failed', 'the server threw "client certificate missing"')
  await Promise.all([pair.client.stop(), pair.server.stop()])
})

t.test('with the receive window the same loss costs one retransmission and the handshake completes', async (t) => {
  const pair = await handshake(loseFirst('toServer', (r) => r.some((x) => x.handshake === CERTIFICATE)), {
    server: (s) => t.ok(orderDtlsHandshakes(s), 'werift\'s socket has the fields the window wraps')
  })
  await waitFor(settled(pair), 'the handshake to end', WAIT)
  t.equal(pair.server.state, 'connected')
  t.equal(pair.client.state, 'connected')
  await Promise.all([pair.client.stop(), pair.server.stop()])
})

t.test('with the receive window a lost client Finished does not corrupt the keys', async (t) => {
  // plain werift handles the whole retransmitted flight again; the repeated
  // ClientKeyExchange recomputes the keys and no Finished decrypts after that
  const finished = (r: RecordInfo[]): boolean => r.some((x) => x.type === HANDSHAKE && x.epoch === 1)
  const pair = await handshake(loseFirst('toServer', finished), { server: orderDtlsHandshakes })
  await waitFor(settled(pair), 'the handshake to end', WAIT)
  t.equal(pair.server.state, 'connected')
  t.equal(pair.client.state, 'connected')
  const finishedSent = pair.sent.toServer.filter((d) => finished(records(d))).length
  t.ok(finishedSent >= 2, `the client sent its Finished again (${finishedSent} times)`)
  await Promise.all([pair.client.stop(), pair.server.stop()])
})

t.test('a repaired socket sends each handshake flight in one datagram', async (t) => {
  const pair = await handshake(() => false, { client: repairDtlsSocket, server: repairDtlsSocket })
  await waitFor(settled(pair), 'the handshake to end', WAIT)
  t.equal(pair.server.state, 'connected')
  t.equal(pair.client.state, 'connected')
  const flight4 = pair.sent.toClient.filter((d) => records(d).some((r) => r.handshake === HELLO_DONE))
  t.equal(flight4.length, 1, 'ServerHello ... ServerHelloDone left together')
  t.same(records(flight4[0]!).map((r) => r.handshake), [2, 11, 12, 13, 14])
  const flight5 = pair.sent.toServer.filter((d) => records(d).some((r) => r.handshake === CERTIFICATE))
  t.equal(flight5.length, 1, 'Certificate ... Finished left together')
  t.same(records(flight5[0]!).map((r) => r.handshake ?? r.type), [11, 16, 15, 20, 22], 'with ChangeCipherSpec (20) and the encrypted Finished')
  t.equal(dtlsUnrepairableCount(), 0)
  await Promise.all([pair.client.stop(), pair.server.stop()])
})

t.test('werift repeats a flight with the record numbers of its first send (what a replay window drops)', async (t) => {
  // the tripwire for the bug renumbering repairs: if werift numbers its repeats, this fails
  const pair = await handshake(loseFirst('toClient', serverFinished), {
    client: (s) => orderDtlsHandshakes(s) && packDtlsFlights(s),
    server: (s) => orderDtlsHandshakes(s) && packDtlsFlights(s)
  })
  const flight5 = (): Buffer[] => pair.sent.toServer.filter((d) => records(d).some((r) => r.handshake === CERTIFICATE))
  await waitFor(() => flight5().length >= 2, 'the client to send its flight 5 again', WAIT)
  const [first, again] = flight5()
  t.same(records(again!).map((r) => [r.epoch, r.seq]), records(first!).map((r) => [r.epoch, r.seq]), 'the same (epoch, number) pairs')
  await waitFor(settled(pair), 'the handshake to end', WAIT)
  await Promise.all([pair.client.stop(), pair.server.stop()])
})

t.test('with fresh numbers a server that drops replays still gets the repeated Finished and sends its last flight again', async (t) => {
  // Chromium as DTLS server: it took flight 5, its last flight was lost, and it drops records it has seen
  const before = dtlsRetransmitsRenumbered()
  const pair = await handshake(both(loseFirst('toClient', serverFinished), replayWindow('toServer')), {
    client: (s) => t.ok(repairDtlsSocket(s), 'werift\'s socket has the fields renumbering wraps'),
    server: repairDtlsSocket
  })
  await waitFor(settled(pair), 'the handshake to end', WAIT)
  t.equal(pair.client.state, 'connected', 'the client connected')
  t.equal(pair.server.state, 'connected')
  t.ok(dtlsRetransmitsRenumbered() > before, 'a repeat was renumbered')
  const numbers = pair.sent.toServer.flatMap((d) => records(d).map((r) => `${r.epoch}/${r.seq}`))
  t.equal(new Set(numbers).size, numbers.length, `no (epoch, number) sent twice by the client: ${numbers.join(' ')}`)
  const finishedSent = pair.sent.toServer.filter((d) => serverFinished(records(d))).length
  t.ok(finishedSent >= 2, `the client sent its Finished again (${finishedSent} times)`)
  // werift resets its epoch-1 counter after its Finished; its next record must not reuse a number (AES-GCM nonce)
  const highest = Math.max(...pair.sent.toServer.flatMap((d) => records(d).filter((r) => r.epoch === 1).map((r) => r.seq)))
  const counter = (pair.client as unknown as { dtls: { dtls: { recordSequenceNumber: number } } }).dtls.dtls.recordSequenceNumber
  t.ok(counter >= highest, `the client's epoch-1 counter (${counter}) is past every number it sent (${highest})`)
  await Promise.all([pair.client.stop(), pair.server.stop()])
})

t.test('without fresh numbers the same replay window fails the handshake', async (t) => {
  // proves the test above can fail: werift's repeats are all dropped, and the client gives up after 11 sends
  const pair = await handshake(both(loseFirst('toClient', serverFinished), replayWindow('toServer')), {
    client: (s) => orderDtlsHandshakes(s) && packDtlsFlights(s),
    server: repairDtlsSocket
  })
  await waitFor(() => pair.client.state === 'failed' || pair.client.state === 'connected', 'the client\'s handshake to end', WAIT)
  t.equal(pair.client.state, 'failed', 'over retransmitCount')
  await Promise.all([pair.client.stop(), pair.server.stop()])
})

t.test('after installDtlsLossRepair() every DTLS socket werift builds is repaired', async (t) => {
  installDtlsLossRepair()
  installDtlsLossRepair() // idempotent
  const pair = await handshake(() => false, {})
  t.ok(isDtlsLossRepaired((pair.client as unknown as { dtls: unknown }).dtls))
  t.ok(isDtlsLossRepaired((pair.server as unknown as { dtls: unknown }).dtls))
  await waitFor(settled(pair), 'the handshake to end', WAIT)
  t.equal(pair.server.state, 'connected')
  await Promise.all([pair.client.stop(), pair.server.stop()])
})
