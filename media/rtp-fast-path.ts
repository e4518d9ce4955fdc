/**
 * The forwarding fast path: one packet from a device's track sent to one
 * subscriber's RTCRtpSender, synchronously, with the work werift's own path
 * (MediaStreamTrack.writeRtp -> broadcast -> RTCRtpSender.sendRtp ->
 * dispatchRtp -> RTCDtlsTransport.sendRtp -> ICE send) does, minus its waste:
 *  - werift clones the packet twice per subscriber (writeRtp, dispatchRtp);
 *    here one RtpHeader is built per subscriber and the payload is shared
 *    (nothing writes to it; the receiver already cloned it for us);
 *  - werift's ntpTime() formats the clock as a string and parses it back per
 *    packet (and gets the fraction wrong); here it is arithmetic;
 *  - the header is written straight into one buffer, AES-GCM encrypts the
 *    payload, and header, ciphertext and tag go to the UDP socket as one
 *    datagram from three buffers (no Buffer.concat);
 *  - no promise per packet: werift's send path is four async functions deep
 *    (sendRtp, dtls.sendRtp, connection.send, protocol.sendData).
 * What werift's sender state needs stays updated, so its RTCP keeps working:
 * sequence number and timestamp (sender reports), packet and octet counts,
 * the 128-packet history it answers NACKs from, the transport's counters.
 *
 * werift 0.25.2 exports none of this as API: the fields read are checked by
 * fastPathSupported() (a sender it does not recognise uses werift's own
 * sendRtp), and test/media/rtp-fast-path.test.ts fails if werift changes them.
 */
import { createCipheriv } from 'node:crypto'
import { RtpHeader, RtpPacket, type RTCRtpSender } from 'werift'

/** The werift version this fast path was written against and tested with. */
export const RTP_FAST_PATH_WERIFT = '0.25.2'

const RTP_HISTORY_SIZE = 128 // werift rtpSender RTP_HISTORY_SIZE
const PROFILE_AEAD_AES_128_GCM = 7 // werift ProtectionProfileAeadAes128Gcm
const ONE_BYTE = 0xbede // RFC 8285 4.2
const TWO_BYTE = 0x1000 // RFC 8285 4.3
const URI_MID = 'urn:ietf:params:rtp-hdrext:sdes:mid'
const URI_ABS_SEND_TIME = 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time'
/** ms between 1900-01-01 (NTP epoch) and 1970-01-01 */
const NTP_EPOCH_OFFSET_MS = 2208988800000

interface Extension { id: number, payload: Buffer }
interface SrtpState { rolloverCounter: number }
interface Cipher {
  srtpSessionKey: Buffer
  srtpSessionSalt: Buffer
  encryptRtp: (header: RtpHeader, payload: Buffer, roc: number) => Buffer
}
interface SrtpContext {
  profile: number
  cipher: Cipher
  getSrtpSsrcState: (ssrc: number) => SrtpState
  updateRolloverCount: (seq: number, s: SrtpState) => void
}
interface UdpSocket { send: (msg: Buffer | Buffer[], port: number, address: string) => void }
interface CandidatePair {
  protocol?: { transport?: { socket?: UdpSocket, closed?: boolean } }
  remoteAddr?: [string, number]
  packetsSent: number
  bytesSent: number
}
interface IceConnection {
  nominated?: CandidatePair
  canSendApplicationData: () => boolean
  send: (data: Buffer) => Promise<void>
}
interface DtlsTransportInternals {
  state: string
  srtp?: { localContext?: SrtpContext }
  iceTransport: { connection: IceConnection }
  bytesSent: number
  packetsSent: number
}
/** The RTCRtpSender fields this module reads and writes (werift 0.25.2). */
interface SenderInternals {
  stopped: boolean
  ssrc: number
  mid?: string
  codec?: { payloadType: number }
  dtlsTransport?: DtlsTransportInternals
  headerExtensions: Array<{ id: number, uri: string }>
  seqOffset: number
  timestampOffset: number
  rtpContinuityPending: boolean
  pendingRtpEnabled: boolean
  redRedundantPayloadType?: number
  rtpStreamId?: string
  repairedRtpStreamId?: string
  sequenceNumber?: number
  timestamp?: number
  ntpTimestamp: bigint
  rtpTimestamp: number
  octetCount: number
  packetCount: number
  headerBytesSent: number
  rtpCache: RtpPacket[]
  rtcpRunning: boolean
  runRtcp: () => Promise<void>
  sendRtp: (rtp: RtpPacket) => Promise<void>
}

const NUMBER_FIELDS = ['seqOffset', 'timestampOffset', 'octetCount', 'packetCount', 'headerBytesSent'] as const
const BOOLEAN_FIELDS = ['stopped', 'rtpContinuityPending', 'pendingRtpEnabled', 'rtcpRunning'] as const
const KNOWN_URIS = new Set([URI_MID, URI_ABS_SEND_TIME])

/**
 * True if a werift sender has the shape this fast path was written for and
 * only the header extensions it writes (the SFU negotiates mid and
 * abs-send-time: media/codecs.ts). Read once the sender is negotiated.
 */
export function fastPathSupported (sender: RTCRtpSender): boolean {
  const s = sender as unknown as Partial<SenderInternals>
  for (const f of NUMBER_FIELDS) if (typeof s[f] !== 'number') return false
  for (const f of BOOLEAN_FIELDS) if (typeof s[f] !== 'boolean') return false
  if (!Array.isArray(s.rtpCache) || typeof s.runRtcp !== 'function' || typeof s.ntpTimestamp !== 'bigint') return false
  if (!Array.isArray(s.headerExtensions) || !s.headerExtensions.every((e) => KNOWN_URIS.has(e.uri))) return false
  return s.redRedundantPayloadType === undefined && s.rtpStreamId === undefined && s.repairedRtpStreamId === undefined
}

/** True if a werift DTLS transport exposes the SRTP context and ICE pair the fast path sends with. */
export function fastTransportSupported (transport: unknown): boolean {
  const t = transport as Partial<DtlsTransportInternals> | undefined
  const ctx = t?.srtp?.localContext
  return ctx !== undefined && typeof ctx.getSrtpSsrcState === 'function' && typeof ctx.updateRolloverCount === 'function' &&
    typeof ctx.cipher?.encryptRtp === 'function' && typeof t?.iceTransport?.connection?.canSendApplicationData === 'function'
}

/** The NTP time now as werift keeps it in a sender (64-bit, 32.32 fixed point). */
export function ntpNow (): bigint {
  const ms = Date.now() + NTP_EPOCH_OFFSET_MS
  const sec = Math.floor(ms / 1000)
  const frac = Math.floor(((ms - sec * 1000) / 1000) * 0x100000000)
  return (BigInt(sec) << 32n) | BigInt(frac)
}

/** The 24-bit abs-send-time value (6.18 fixed point seconds) of an NTP time. */
function absSendTime (ntp: bigint): Buffer {
  const v = Number((ntp >> 14n) & 0xffffffn)
  const b = Buffer.allocUnsafe(3)
  b[0] = v >>> 16; b[1] = (v >>> 8) & 0xff; b[2] = v & 0xff
  return b
}

/** Writes an RTP header (RFC 3550 5.1, RFC 8285 one- or two-byte extensions) into a new buffer. */
export function writeRtpHeader (h: RtpHeader): Buffer {
  const exts = h.extensions as Extension[]
  const twoByte = h.extensionProfile === TWO_BYTE
  let extBytes = 0
  if (exts.length > 0) {
    for (const e of exts) extBytes += (twoByte ? 2 : 1) + e.payload.length
    extBytes = 4 + Math.ceil(extBytes / 4) * 4
  }
  const size = 12 + h.csrc.length * 4 + extBytes
  const buf = Buffer.alloc(size)
  buf[0] = 0x80 | (h.padding ? 0x20 : 0) | (exts.length > 0 ? 0x10 : 0) | h.csrc.length
  buf[1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f)
  buf.writeUInt16BE(h.sequenceNumber, 2)
  buf.writeUInt32BE(h.timestamp >>> 0, 4)
  buf.writeUInt32BE(h.ssrc >>> 0, 8)
  let at = 12
  for (const c of h.csrc) { buf.writeUInt32BE(c >>> 0, at); at += 4 }
  if (exts.length > 0) {
    buf.writeUInt16BE(h.extensionProfile, at)
    buf.writeUInt16BE((extBytes - 4) / 4, at + 2)
    at += 4
    for (const e of exts) {
      if (twoByte) { buf[at++] = e.id; buf[at++] = e.payload.length } else buf[at++] = (e.id << 4) | (e.payload.length - 1)
      e.payload.copy(buf, at)
      at += e.payload.length
    }
  }
  h.payloadOffset = size
  return buf
}

/**
 * Sends one RTP packet on a subscriber's sender, as werift's dispatchRtp
 * would, or hands it to werift's sendRtp when this sender or its transport
 * is not one the fast path knows. Never throws for a closed or unready
 * sender: the packet is dropped, as werift drops it.
 */
export class RtpFastPath {
  private readonly s: SenderInternals
  private midId = 0
  private mid: Buffer | undefined
  private absId = 0
  private plannedFor: unknown
  private supported: boolean | undefined
  /** Packets sent through werift's own path (a sender or transport this module does not know). */
  fallbacks = 0
  /** The NACK history (see remember()): source packet, rewritten sequence number (-1: empty) and timestamp per slot. */
  private readonly histSrc: Array<RtpPacket | undefined> = new Array(RTP_HISTORY_SIZE).fill(undefined)
  private readonly histSeq = new Int32Array(RTP_HISTORY_SIZE).fill(-1)
  private readonly histTs = new Uint32Array(RTP_HISTORY_SIZE)
  private cacheView: RtpPacket[] | undefined

  constructor (sender: RTCRtpSender) {
    this.s = sender as unknown as SenderInternals
  }

  send (rtp: RtpPacket): void {
    const s = this.s
    if (s.stopped) return
    const transport = s.dtlsTransport
    const codec = s.codec
    if (transport === undefined || transport.state !== 'connected' || codec === undefined) return
    this.supported ??= fastPathSupported(s as unknown as RTCRtpSender) && fastTransportSupported(transport)
    if (!this.supported || s.rtpContinuityPending || s.pendingRtpEnabled) {
      this.fallbacks++
      s.sendRtp(rtp).catch(() => {})
      return
    }
    if (this.plannedFor !== s.headerExtensions) this.plan()
    const connection = transport.iceTransport.connection
    const src = rtp.header
    const payload = rtp.payload
    const header = new RtpHeader()
    header.marker = src.marker
    header.payloadType = codec.payloadType
    header.sequenceNumber = (src.sequenceNumber + s.seqOffset) & 0xffff
    header.timestamp = (src.timestamp + s.timestampOffset) >>> 0
    header.ssrc = s.ssrc
    header.csrc = src.csrc
    header.csrcLength = src.csrcLength
    header.extensionProfile = src.extensionProfile
    const ntp = ntpNow()
    header.extensions = this.extensions(src.extensions as Extension[], ntp)
    s.timestamp = header.timestamp
    s.sequenceNumber = header.sequenceNumber
    s.ntpTimestamp = ntp
    s.rtpTimestamp = header.timestamp
    s.octetCount += payload.length
    this.remember(rtp, header)

    const ctx = transport.srtp!.localContext!
    const state = ctx.getSrtpSsrcState(header.ssrc)
    ctx.updateRolloverCount(header.sequenceNumber, state)
    let datagram: Buffer[]
    let size: number
    if (ctx.profile === PROFILE_AEAD_AES_128_GCM && (header.extensionProfile === ONE_BYTE || header.extensionProfile === TWO_BYTE)) {
      const hdr = writeRtpHeader(header)
      const cipher = createCipheriv('aes-128-gcm', ctx.cipher.srtpSessionKey, gcmIv(ctx.cipher.srtpSessionSalt, header.ssrc, state.rolloverCounter, header.sequenceNumber))
      cipher.setAAD(hdr)
      const enc = cipher.update(payload)
      cipher.final()
      const tag = cipher.getAuthTag()
      datagram = [hdr, enc, tag]
      size = hdr.length + enc.length + tag.length
    } else {
      const enc = ctx.cipher.encryptRtp(header, payload, state.rolloverCounter)
      datagram = [enc]
      size = enc.length
    }
    s.headerBytesSent += header.payloadOffset
    s.packetCount = (s.packetCount + 1) >>> 0
    transport.bytesSent += size
    transport.packetsSent++
    if (!connection.canSendApplicationData()) return
    const pair = connection.nominated!
    const udp = pair.protocol?.transport
    if (udp?.socket !== undefined && pair.remoteAddr !== undefined) {
      if (udp.closed === true) return
      udp.socket.send(datagram, pair.remoteAddr[1], pair.remoteAddr[0])
      pair.packetsSent++
      pair.bytesSent += size
    } else {
      connection.send(datagram.length === 1 ? datagram[0]! : Buffer.concat(datagram)).catch(() => {})
    }
    if (!s.rtcpRunning) s.runRtcp().catch(() => {})
  }

  /**
   * werift answers NACKs from the sender's rtpCache (an RtpPacket per slot,
   * 128 slots). Building that packet for every send made ~10 long-lived
   * objects per packet per subscriber, which outlive the young generation and
   * are promoted, then collected by the old generation's pauses. Instead the
   * history keeps the source packet (shared by every subscriber) and the
   * rewritten sequence number and timestamp, and rtpCache becomes a view
   * that builds a slot's packet only when werift reads it (a NACK).
   */
  private remember (src: RtpPacket, header: RtpHeader): void {
    const s = this.s
    if (s.rtpCache !== this.cacheView) this.installCacheView()
    const i = header.sequenceNumber % RTP_HISTORY_SIZE
    this.histSrc[i] = src
    this.histSeq[i] = header.sequenceNumber
    this.histTs[i] = header.timestamp
  }

  private installCacheView (): void {
    this.histSrc.fill(undefined)
    this.histSeq.fill(-1)
    const target: RtpPacket[] = []
    this.cacheView = new Proxy(target, {
      get: (t, key, receiver) => {
        if (typeof key === 'string') {
          const i = Number(key)
          if (Number.isInteger(i) && i >= 0 && i < RTP_HISTORY_SIZE && this.histSeq[i]! >= 0) return this.rebuild(i)
        }
        return Reflect.get(t, key, receiver)
      },
      set: (t, key, value, receiver) => {
        // werift's own send path (a fallback) writes its packet: it wins the slot
        if (typeof key === 'string') {
          const i = Number(key)
          if (Number.isInteger(i) && i >= 0 && i < RTP_HISTORY_SIZE) { this.histSeq[i] = -1; this.histSrc[i] = undefined }
        }
        return Reflect.set(t, key, value, receiver)
      }
    })
    this.s.rtpCache = this.cacheView
  }

  /** The packet werift would have cached in slot i, as sent (abs-send-time: now, the resend's time). */
  private rebuild (i: number): RtpPacket | undefined {
    const src = this.histSrc[i]
    const codec = this.s.codec
    if (src === undefined || codec === undefined) return undefined
    const header = new RtpHeader()
    header.marker = src.header.marker
    header.payloadType = codec.payloadType
    header.sequenceNumber = this.histSeq[i]!
    header.timestamp = this.histTs[i]!
    header.ssrc = this.s.ssrc
    header.csrc = src.header.csrc
    header.csrcLength = src.header.csrcLength
    header.extensionProfile = src.header.extensionProfile
    header.extensions = this.extensions(src.header.extensions as Extension[], ntpNow())
    return new RtpPacket(header, src.payload)
  }

  /**
   * A source packet this subscriber will not get: later packets move back one
   * sequence number, so the subscriber sees no gap (and sends no NACK).
   */
  skip (): void {
    this.s.seqOffset = (this.s.seqOffset - 1) & 0xffff
  }

  /** Datagrams waiting in libuv's send queue of the subscriber's socket (0 if unknown). */
  sendQueueSize (): number {
    const socket = this.s.dtlsTransport?.iceTransport.connection.nominated?.protocol?.transport?.socket as { getSendQueueSize?: () => number } | undefined
    try {
      return socket?.getSendQueueSize?.() ?? 0
    } catch {
      return 0 // not bound (closing)
    }
  }

  /** The negotiated extension ids (they change only on renegotiation). */
  private plan (): void {
    this.plannedFor = this.s.headerExtensions
    this.midId = 0
    this.absId = 0
    for (const e of this.s.headerExtensions) {
      if (e.uri === URI_MID) this.midId = e.id
      else if (e.uri === URI_ABS_SEND_TIME) this.absId = e.id
    }
    if (this.s.mid !== undefined && this.mid?.toString() !== this.s.mid) this.mid = Buffer.from(this.s.mid)
  }

  /**
   * werift's rule (dispatchRtp): the sender's own extensions, then the
   * source packet's extensions, the source's payload winning on an id both
   * carry; sorted by id.
   */
  private extensions (source: Extension[], ntp: bigint): Extension[] {
    if (this.mid === undefined && this.s.mid !== undefined) this.mid = Buffer.from(this.s.mid)
    const out: Extension[] = []
    for (const e of this.s.headerExtensions) {
      if (e.id === this.midId && this.mid !== undefined) out.push({ id: e.id, payload: this.mid })
      else if (e.id === this.absId) out.push({ id: e.id, payload: absSendTime(ntp) })
    }
    for (const ext of source) {
      const same = out.find((e) => e.id === ext.id)
      if (same !== undefined) same.payload = ext.payload
      else out.push(ext)
    }
    if (out.length > 1) out.sort((a, b) => a.id - b.id)
    return out
  }
}

/** RFC 7714 section 8.1: 0x0000 | SSRC | ROC | SEQ, XOR the 12-byte salt. */
function gcmIv (salt: Buffer, ssrc: number, roc: number, seq: number): Buffer {
  const iv = Buffer.allocUnsafe(12)
  iv.writeUInt16BE(0, 0)
  iv.writeUInt32BE(ssrc >>> 0, 2)
  iv.writeUInt32BE(roc >>> 0, 6)
  iv.writeUInt16BE(seq, 10)
  for (let i = 0; i < 12; i++) iv[i]! ^= salt[i]!
  return iv
}
