/**
 * Size and structure checks on SDP and ICE candidates from devices, run
 * before werift sees any of it: werift's parser trusts its input, so a
 * garbage offer must be refused here with a clear message (HAIL_ERR_SDP /
 * HAIL_ERR_CANDIDATE), and only the sending peer sees the error.
 */
import { SessionDescription } from 'werift'
import { MediaError } from './errors.js'
import type { CandidateInit } from './types.js'

export const MAX_SDP_BYTES = 64 * 1024
export const MAX_M_LINES = 32
export const MAX_CANDIDATE_BYTES = 1024
const MEDIA_KINDS = new Set(['audio', 'video', 'application'])
const LINE = /^[a-z]=[^\0\r\n]*$/
const M_LINE = /^m=(\S+) (\d{1,5})(?:\/\d+)? (\S+)(?: \S+)+$/
const FINGERPRINT = /^a=fingerprint:\S+ [0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})+$/
const UFRAG = /^a=ice-ufrag:[A-Za-z0-9+/]{4,256}$/
const PWD = /^a=ice-pwd:[A-Za-z0-9+/]{22,256}$/

// candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> [...]  (RFC 8839 5.1)
const CANDIDATE = /^(?:a=)?candidate:([A-Za-z0-9+/]{1,32}) (\d{1,3}) (udp|tcp|UDP|TCP) (\d{1,10}) ([0-9A-Za-z.:%-]{1,255}) (\d{1,5}) typ (host|srflx|prflx|relay)((?: [A-Za-z0-9-]+ [^\s]+)*)$/
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/
const IPV6 = /^[0-9A-Fa-f:.]{2,45}(?:%[A-Za-z0-9]+)?$/
const MDNS = /^[0-9A-Za-z-]{1,63}\.local$/

function sdpError (message: string, cause?: unknown): MediaError {
  return new MediaError('HAIL_ERR_SDP', `bad SDP: ${message}`, cause === undefined ? undefined : { cause })
}

/** Throws MediaError HAIL_ERR_SDP unless `sdp` is a sane offer/answer. */
export function checkSdp (sdp: unknown): string {
  if (typeof sdp !== 'string') throw sdpError('sdp must be a string')
  const bytes = Buffer.byteLength(sdp)
  if (bytes > MAX_SDP_BYTES) throw sdpError(`${bytes} bytes, the limit is ${MAX_SDP_BYTES}`)
  const lines = sdp.split(/\r?\n/)
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  if (lines[0] !== 'v=0') throw sdpError('must start with v=0')
  let session = true
  let sessionUfrag = false
  let sessionPwd = false
  let sessionFingerprint = false
  const sections: Array<{ kind: string, ufrag: boolean, pwd: boolean, fingerprint: boolean, port: number }> = []
  for (const [i, line] of lines.entries()) {
    if (!LINE.test(line)) throw sdpError(`line ${i + 1} is not "x=value"`)
    if (line.startsWith('m=')) {
      session = false
      const m = M_LINE.exec(line)
      if (m === null) throw sdpError(`line ${i + 1}: malformed m-line`)
      const kind = m[1] as string
      if (!MEDIA_KINDS.has(kind)) throw sdpError(`line ${i + 1}: unknown media kind "${kind.slice(0, 32)}"`)
      const proto = m[3] as string
      if (!/RTP\/|DTLS\/SCTP/.test(proto)) throw sdpError(`line ${i + 1}: unsupported protocol "${proto.slice(0, 32)}"`)
      sections.push({ kind, ufrag: false, pwd: false, fingerprint: false, port: Number(m[2]) })
      if (sections.length > MAX_M_LINES) throw sdpError(`more than ${MAX_M_LINES} m-lines`)
      continue
    }
    if (!line.startsWith('a=')) continue
    const current = sections[sections.length - 1]
    if (line.startsWith('a=ice-ufrag:')) {
      if (!UFRAG.test(line)) throw sdpError(`line ${i + 1}: malformed ice-ufrag`)
      if (session) sessionUfrag = true; else if (current) current.ufrag = true
    } else if (line.startsWith('a=ice-pwd:')) {
      if (!PWD.test(line)) throw sdpError(`line ${i + 1}: malformed ice-pwd`)
      if (session) sessionPwd = true; else if (current) current.pwd = true
    } else if (line.startsWith('a=fingerprint:')) {
      if (!FINGERPRINT.test(line)) throw sdpError(`line ${i + 1}: malformed fingerprint`)
      if (session) sessionFingerprint = true; else if (current) current.fingerprint = true
    } else if (line.startsWith('a=candidate:')) {
      try {
        checkCandidateLine(line)
      } catch (err) {
        throw sdpError(`line ${i + 1}: ${(err as Error).message}`, err)
      }
    }
  }
  if (sections.length === 0) throw sdpError('no m-lines')
  for (const [i, s] of sections.entries()) {
    if (s.port === 0) continue // rejected / stopped section carries no transport
    if (!(s.ufrag || sessionUfrag) || !(s.pwd || sessionPwd)) throw sdpError(`m-line ${i + 1} (${s.kind}) has no ICE ufrag/pwd`)
    if (!(s.fingerprint || sessionFingerprint)) throw sdpError(`m-line ${i + 1} (${s.kind}) has no DTLS fingerprint`)
  }
  try {
    SessionDescription.parse(sdp)
  } catch (err) {
    throw sdpError('werift cannot parse it', err)
  }
  return sdp
}

function checkCandidateLine (line: string): void {
  if (Buffer.byteLength(line) > MAX_CANDIDATE_BYTES) throw new Error(`candidate longer than ${MAX_CANDIDATE_BYTES} bytes`)
  const m = CANDIDATE.exec(line)
  if (m === null) throw new Error('candidate does not match "candidate:<foundation> <component> <udp|tcp> <priority> <address> <port> typ <type> ..."')
  const component = Number(m[2])
  const priority = Number(m[4])
  const address = m[5] as string
  const port = Number(m[6])
  if (component < 1 || component > 256) throw new Error('candidate component out of range')
  if (priority > 0xffffffff) throw new Error('candidate priority out of range')
  if (port > 65535) throw new Error('candidate port out of range')
  if (!IPV4.test(address) && !(address.includes(':') && IPV6.test(address)) && !MDNS.test(address)) {
    throw new Error(`candidate address "${address.slice(0, 64)}" is not an IP address or .local name`)
  }
}

/** Throws MediaError HAIL_ERR_CANDIDATE unless `c` is a well-formed candidate init. */
export function checkCandidate (c: unknown): CandidateInit {
  if (typeof c !== 'object' || c === null) throw new MediaError('HAIL_ERR_CANDIDATE', 'bad candidate: must be an object')
  const init = c as Record<string, unknown>
  if (typeof init.candidate !== 'string') throw new MediaError('HAIL_ERR_CANDIDATE', 'bad candidate: candidate must be a string')
  if (init.sdpMid !== undefined && init.sdpMid !== null && (typeof init.sdpMid !== 'string' || init.sdpMid.length > 64)) {
    throw new MediaError('HAIL_ERR_CANDIDATE', 'bad candidate: sdpMid must be a short string')
  }
  if (init.sdpMLineIndex !== undefined && init.sdpMLineIndex !== null &&
    (!Number.isInteger(init.sdpMLineIndex) || (init.sdpMLineIndex as number) < 0 || (init.sdpMLineIndex as number) >= MAX_M_LINES)) {
    throw new MediaError('HAIL_ERR_CANDIDATE', 'bad candidate: sdpMLineIndex out of range')
  }
  if (init.candidate !== '') { // '' = end of candidates
    try {
      checkCandidateLine(init.candidate)
    } catch (err) {
      throw new MediaError('HAIL_ERR_CANDIDATE', `bad candidate: ${(err as Error).message}`, { cause: err })
    }
  }
  return {
    candidate: init.candidate,
    sdpMid: (init.sdpMid as string | null | undefined) ?? null,
    sdpMLineIndex: (init.sdpMLineIndex as number | null | undefined) ?? null
  }
}
