/**
 * Fresh record sequence numbers for werift 0.25.2's DTLS retransmissions
 * (see dtls-loss-repair.ts for the rest of the repair).
 *
 * werift retransmits a flight by sending the very same bytes again, record
 * sequence numbers included. RFC 6347 section 4.1 gives every record its own
 * number, and a receiver with a replay window (RFC 6347 section 4.1.2.6; BoringSSL,
 * so Chromium) drops a record whose number it has seen. When werift is the
 * DTLS client and the peer's last flight (ChangeCipherSpec, Finished) is lost,
 * the peer has already taken werift's flight 5; its repeats are then all
 * replays to it, so the peer never sees the repeated Finished that would make
 * it send its last flight again. werift gives up after 11 sends (33 s) while
 * Chromium reports the call connected. Seen in test/media/loss-browser.test.ts
 * at 10 % loss (2 failed calls in 50 without this, 0 in 150 with it); that
 * file's second test drops exactly Chromium's last flight.
 *
 * Here every record of a datagram werift sends a second time gets a number it
 * has not used, in its epoch: epoch 0 counts on from the highest sent, and
 * an encrypted record (the Finished) is decrypted with werift's own write key
 * and encrypted again under the new number (AES-GCM's nonce is epoch and
 * number, so it must never repeat). For the same reason werift's epoch-1
 * counter, which it resets to 0 after writing its Finished (so its first
 * application records would reuse the Finished's number, and nonce), is moved
 * past every epoch-1 number already sent.
 */

/** The parts of werift's DtlsSocket this file relies on. */
interface DtlsSocketInternals {
  transport: { send: (buf: Buffer, addr?: unknown) => Promise<unknown> | unknown }
  connected: boolean
  dtls: { recordSequenceNumber: number }
  cipher: {
    sessionType: number
    cipher?: {
      encrypt?: (type: number, data: Buffer, header: RecordHeader) => Buffer
      decrypt?: (type: number, data: Buffer, header: RecordHeader) => Buffer
    }
  }
}

interface RecordHeader { type: number, version: number, epoch: number, sequenceNumber: number }

const HEADER = 13
/** werift's SessionType: CLIENT 1, SERVER 2. */
const CLIENT = 1
const SERVER = 2

const renumbering = new WeakSet<object>()
let renumbered = 0

function hasInternals (socket: unknown): socket is DtlsSocketInternals {
  const s = socket as Partial<DtlsSocketInternals> | undefined
  return typeof s?.transport?.send === 'function' && typeof s.connected === 'boolean' &&
    typeof s.dtls?.recordSequenceNumber === 'number' && typeof s.cipher?.sessionType === 'number'
}

/** Records sent so far per werift handshake context (a renegotiation makes a new one). */
interface Sent { buffers: WeakSet<Buffer>, highest: Map<number, number> }

/**
 * Give one werift DtlsSocket's retransmitted records fresh numbers. Returns
 * false (and changes nothing) when the socket lacks the fields it wraps.
 */
export function renumberDtlsRetransmits (socket: unknown): boolean {
  if (!hasInternals(socket)) return false
  if (renumbering.has(socket)) return true
  renumbering.add(socket)
  const transport = socket.transport
  const send = transport.send.bind(transport)
  const contexts = new WeakMap<object, Sent>()

  transport.send = (buf: Buffer, addr?: unknown) => {
    if (addr !== undefined || !Buffer.isBuffer(buf)) return send(buf, addr)
    let sent = contexts.get(socket.dtls)
    if (sent === undefined) {
      sent = { buffers: new WeakSet(), highest: new Map() }
      contexts.set(socket.dtls, sent)
    }
    if (sent.buffers.has(buf)) {
      const fresh = renumber(socket, buf, sent)
      if (fresh !== undefined) {
        renumbered++
        return send(fresh)
      }
      return send(buf)
    }
    // application data: werift never sends it twice, and its numbers were set right at the Finished
    if (socket.connected && buf[0] === 23) return send(buf)
    note(socket, buf, sent)
    sent.buffers.add(buf)
    return send(buf)
  }
  return true
}

/** How many datagrams were sent again with fresh numbers, in this process (for tests). */
export function dtlsRetransmitsRenumbered (): number {
  return renumbered
}

/** Each record's header: [offset, epoch, sequence number], or undefined when the bytes are not whole records. */
function records (buf: Buffer): Array<[number, number, number]> | undefined {
  const out: Array<[number, number, number]> = []
  let at = 0
  while (at < buf.length) {
    if (buf.length < at + HEADER) return undefined
    const length = buf.readUInt16BE(at + 11)
    if (buf.length < at + HEADER + length) return undefined
    out.push([at, buf.readUInt16BE(at + 3), buf.readUIntBE(at + 5, 6)])
    at += HEADER + length
  }
  return out
}

/** Remember the highest number sent per epoch; keep werift's epoch counter past them. */
function note (socket: DtlsSocketInternals, buf: Buffer, sent: Sent): void {
  const found = records(buf)
  if (found === undefined) return
  for (const [, epoch, seq] of found) {
    if (seq > (sent.highest.get(epoch) ?? -1)) sent.highest.set(epoch, seq)
    if (epoch > 0 && socket.dtls.recordSequenceNumber < seq) socket.dtls.recordSequenceNumber = seq
  }
}

/** A copy of `buf` whose records carry numbers not used before; undefined if it cannot be done. */
function renumber (socket: DtlsSocketInternals, buf: Buffer, sent: Sent): Buffer | undefined {
  const found = records(buf)
  if (found === undefined) return undefined
  const parts: Buffer[] = []
  try {
    for (const [at, epoch, seq] of found) {
      const length = buf.readUInt16BE(at + 11)
      const header = Buffer.from(buf.subarray(at, at + HEADER))
      let body = buf.subarray(at + HEADER, at + HEADER + length)
      let next: number
      if (epoch === 0) {
        next = (sent.highest.get(0) ?? seq) + 1
      } else {
        // werift's own counter for this epoch, which its later records continue from
        next = Math.max(socket.dtls.recordSequenceNumber, sent.highest.get(epoch) ?? 0) + 1
        socket.dtls.recordSequenceNumber = next
        const cipher = socket.cipher.cipher
        if (cipher?.encrypt === undefined || cipher.decrypt === undefined) return undefined
        const ours = socket.cipher.sessionType
        const base = { type: header[0]!, version: header.readUInt16BE(1), epoch }
        // decrypting as the other side uses this side's write key and nonce
        const plain = cipher.decrypt(ours === CLIENT ? SERVER : CLIENT, Buffer.from(body), { ...base, sequenceNumber: seq })
        body = cipher.encrypt(ours, plain, { ...base, sequenceNumber: next })
        header.writeUInt16BE(body.length, 11)
      }
      header.writeUIntBE(next, 5, 6)
      sent.highest.set(epoch, next)
      parts.push(header, body)
    }
  } catch {
    return undefined
  }
  return Buffer.concat(parts)
}
