/**
 * A receive window for werift 0.25.2's DTLS handshake (see dtls-loss-repair.ts
 * for why). werift hands every handshake message to its flight logic the
 * moment its datagram arrives, whatever its message_seq; RFC 6347 section
 * 4.2.2 says a receiver MUST buffer messages that come early and process them
 * in message_seq order. Here early messages wait until the ones before them
 * have been handled; of a retransmitted flight only its last message is passed
 * on (werift resends its own last flight when it sees that one again), the
 * others are dropped (handled twice, a ClientKeyExchange recomputes the keys
 * over a transcript that by then holds the messages after it); a repeated
 * HelloVerifyRequest (werift throws) and stale ClientHellos (werift
 * regenerates its keys, or renegotiates once connected) are dropped.
 */
/** A handshake message as werift's record layer hands it on (FragmentedHandshake). */
interface Handshake {
  msg_type: number
  message_seq: number
  fragment: Buffer
}

/** The parts of werift's DtlsSocket this file relies on. */
interface DtlsSocketInternals {
  onHandleHandshakes: (assembled: Handshake[]) => Promise<void>
  connected: boolean
}

const CLIENT_HELLO = 1
const HELLO_VERIFY_REQUEST = 3
/** Early messages kept per socket; a handshake has at most 6 per flight. */
const MAX_HELD = 16

const ordered = new WeakSet<object>()

/** True when werift's socket has the fields the receive window wraps. */
function hasInternals (socket: unknown): socket is DtlsSocketInternals {
  const s = socket as Partial<DtlsSocketInternals> | undefined
  return typeof s?.onHandleHandshakes === 'function' && typeof s.connected === 'boolean'
}

/**
 * Put the receive window in front of one werift DtlsSocket's handshake
 * handler. Returns false (and changes nothing) when the socket lacks the
 * fields it wraps, i.e. werift changed.
 */
export function orderDtlsHandshakes (socket: unknown): boolean {
  if (!hasInternals(socket)) return false
  if (ordered.has(socket)) return true
  ordered.add(socket)
  const handle = socket.onHandleHandshakes
  const held = new Map<number, Handshake>()
  let next = 0
  let helloRandom: Buffer | undefined
  let helloSeq = -1

  const pass = (h: Handshake): Promise<void> => handle([h])

  socket.onHandleHandshakes = async (assembled: Handshake[]): Promise<void> => {
    const now: Handshake[] = []
    for (const h of assembled) {
      const seq = h.message_seq
      if (h.msg_type === CLIENT_HELLO) {
        const random = h.fragment.subarray(2, 34)
        if (helloRandom !== undefined && random.equals(helloRandom)) {
          // the same handshake's hello again: a newer one (with the cookie) moves
          // on; a repeat of the newest makes werift resend its answer; an older
          // one would make werift regenerate its keys, and any after connecting
          // would start a renegotiation: dropped.
          if (seq > helloSeq && !socket.connected) {
            helloSeq = seq
            next = seq + 1
            held.clear()
            now.push(h)
          } else if (seq === helloSeq && !socket.connected) {
            now.push(h)
          }
        } else {
          // a new handshake
          helloRandom = Buffer.from(random)
          helloSeq = seq
          next = seq + 1
          held.clear()
          now.push(h)
        }
        continue
      }
      if (h.msg_type === HELLO_VERIFY_REQUEST) {
        if (seq < next) continue // a duplicate: werift would throw
        next = seq + 1
        held.clear()
        now.push(h)
        continue
      }
      if (seq < next) {
        // A retransmission. werift resends its own last flight when the last
        // message of the peer's flight comes again, so that one is passed on;
        // earlier ones would be handled again (a repeated ClientKeyExchange
        // recomputes the keys over a transcript that by now holds the
        // messages after it): dropped, as RFC 6347 section 4.2.2 allows.
        if (seq === next - 1) now.push(h)
      } else if (seq === next) {
        now.push(h)
        next++
        for (let early = held.get(next); early !== undefined; early = held.get(next)) {
          held.delete(next)
          now.push(early)
          next++
        }
      } else if (seq - next <= MAX_HELD) {
        held.set(seq, h) // early: waits for the messages before it
      }
    }
    // One call per message, as werift itself handles one datagram at a time:
    // its handler stops at the first message it finds nothing to do for.
    await Promise.all(now.map(pass))
  }
  return true
}
