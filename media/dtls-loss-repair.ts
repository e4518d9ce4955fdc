/**
 * Makes werift 0.25.2's DTLS handshake survive packet loss.
 *
 * Measured with test/media/loss.test.ts (two werift peers across a veth pair,
 * nftables dropping 10 % of UDP at random each way): 13 of 30 plain werift
 * handshakes failed. What goes wrong, read from node_modules/werift/lib/dtls:
 *  - every handshake message is handled the moment its datagram arrives,
 *    whatever its message_seq (RFC 6347 section 4.2.2 says: buffer early ones,
 *    process in order). A CertificateVerify that overtakes a lost
 *    ClientKeyExchange enters the transcript first, and the retransmitted
 *    ClientKeyExchange then derives the extended master secret (RFC 7627)
 *    over the wrong transcript; a CertificateVerify that overtakes a lost
 *    Certificate throws ("client certificate missing") and fails the
 *    handshake at once;
 *  - a whole retransmitted flight is handled again: when only the client's
 *    Finished was lost, the repeated ClientKeyExchange recomputes the keys
 *    over a transcript that now ends with the CertificateVerify. Keys differ
 *    from then on, no Finished decrypts, and after 11 retransmissions (33 s)
 *    both ends give up ("over retransmitCount");
 *  - a client that gets ServerHelloDone before a lost ServerKeyExchange polls
 *    for it (waitForReady); if the retransmission completes the handshake
 *    meanwhile, the stale poll later restarts flight 5 with new keys and kills
 *    the connected session; a repeated HelloVerifyRequest throws; a late
 *    repeated ClientHello makes the server regenerate its keys;
 *  - a retransmitted flight carries the record sequence numbers of the first
 *    send, so a peer with a replay window (Chromium) drops every repeat; when
 *    the peer's last flight is lost the handshake cannot complete (1 call in
 *    ~30 from Chromium at 10 % loss: test/media/loss-browser.test.ts).
 * werift's flight timers themselves are fine (11 sends over 33 s).
 *
 * The repair, per DTLS socket: a receive window (dtls-handshake-order.ts),
 * one datagram per flight where it fits (dtls-flight-packing.ts), so the
 * peer sees whole flights or none, and fresh record numbers for every
 * repeat (dtls-retransmit-renumber.ts). Patched on both ends: 30 of 30 connect at
 * 10 % loss. A device that runs unpatched werift still profits from the
 * server's packing; what is left on its side is written in
 * test/media/loss.test.ts.
 *
 * werift does not export its DTLS classes, so this wraps
 * RTCDtlsTransport.prototype.start, which builds the socket synchronously
 * before its first await: no datagram can reach an unrepaired socket. It
 * relies on instance fields (onHandleHandshakes, transport.send, connected,
 * dtls.recordSequenceNumber, cipher);
 * test/media/dtls-loss-repair.test.ts fails if werift changes them.
 */
import { RTCDtlsTransport } from 'werift'
import { packDtlsFlights } from './dtls-flight-packing.js'
import { orderDtlsHandshakes } from './dtls-handshake-order.js'
import { renumberDtlsRetransmits } from './dtls-retransmit-renumber.js'

/** The werift version this repair was written against and tested with. */
export const DTLS_LOSS_REPAIR_WERIFT = '0.25.2'

type Start = (this: { dtls?: unknown }) => Promise<void>

const repaired = new WeakSet<object>()
let installed = false
let unrepairable = 0

/**
 * Repair every werift DTLS socket created from now on in this process (its
 * ESM copy of werift, the one `import 'werift'` loads). Idempotent.
 */
export function installDtlsLossRepair (): void {
  if (installed) return
  installed = true
  const proto = RTCDtlsTransport.prototype as unknown as { start: Start }
  const start = proto.start
  proto.start = function (this: { dtls?: unknown }) {
    const started = start.call(this)
    // start() has built this.dtls synchronously by now
    if (this.dtls !== undefined) repairDtlsSocket(this.dtls)
    return started
  }
}

/** Repair one werift DtlsSocket; false if werift's internals changed. */
export function repairDtlsSocket (socket: unknown): boolean {
  // renumbering wraps the packing: it must see werift's own buffers, which werift sends again as they are
  const ok = orderDtlsHandshakes(socket) && packDtlsFlights(socket) && renumberDtlsRetransmits(socket)
  if (ok) repaired.add(socket as object)
  else unrepairable++
  return ok
}

/** Whether a werift DtlsSocket was repaired (for tests). */
export function isDtlsLossRepaired (socket: unknown): boolean {
  return typeof socket === 'object' && socket !== null && repaired.has(socket)
}

/** How many sockets could not be repaired because werift's internals changed. */
export function dtlsUnrepairableCount (): number {
  return unrepairable
}
