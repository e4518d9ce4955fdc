/**
 * Sends each DTLS handshake flight of a werift 0.25.2 socket in as few
 * datagrams as fit (see dtls-loss-repair.ts for why). werift sends every
 * handshake message of a flight in its own datagram, so a lossy path delivers
 * partial flights, which werift's peers (werift itself among them) handle
 * badly: a ServerHelloDone without the ServerKeyExchange before it leaves a
 * werift client waiting on a poll that later restarts its flight 5 with new
 * keys. RFC 6347 section 4.1.1 lets several records share a datagram; werift
 * and Chromium read them (test/media/loss-browser.test.ts). Records written in
 * the same tick while the handshake runs are joined up to MAX_DATAGRAM bytes;
 * after the handshake (application data) they go out unchanged.
 */

/** Stays under the 1280-byte IPv6 minimum MTU, less IP and UDP headers. */
export const MAX_DATAGRAM = 1200

interface DtlsTransportContext {
  send: (buf: Buffer, addr?: unknown) => Promise<unknown> | unknown
}

interface DtlsSocketInternals {
  transport: DtlsTransportContext
  connected: boolean
}

const packed = new WeakSet<object>()

function hasInternals (socket: unknown): socket is DtlsSocketInternals {
  const s = socket as Partial<DtlsSocketInternals> | undefined
  return typeof s?.transport?.send === 'function' && typeof s.connected === 'boolean'
}

/**
 * Join the records one werift DtlsSocket writes in one tick during its
 * handshake. Returns false (and changes nothing) when the socket lacks the
 * fields it wraps, i.e. werift changed.
 */
export function packDtlsFlights (socket: unknown): boolean {
  if (!hasInternals(socket)) return false
  if (packed.has(socket)) return true
  packed.add(socket)
  const transport = socket.transport
  const send = transport.send.bind(transport)
  let pending: Buffer[] = []
  let size = 0
  let flushing: Promise<void> | undefined

  const flush = async (): Promise<void> => {
    const out = pending
    pending = []
    size = 0
    flushing = undefined
    if (out.length > 0) await send(out.length === 1 ? out[0]! : Buffer.concat(out))
  }

  transport.send = (buf: Buffer, addr?: unknown) => {
    if (addr !== undefined || (socket.connected && pending.length === 0)) return send(buf, addr)
    if (size + buf.length > MAX_DATAGRAM && pending.length > 0) {
      // the datagram is full: the records so far go now, in order
      const out = pending
      pending = []
      size = 0
      void send(out.length === 1 ? out[0]! : Buffer.concat(out))
    }
    pending.push(buf)
    size += buf.length
    flushing ??= new Promise<void>((resolve) => queueMicrotask(resolve)).then(flush)
    return flushing
  }
  return true
}
