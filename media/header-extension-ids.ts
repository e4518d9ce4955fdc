/**
 * werift numbers config.headerExtensions itself (1, 2, … across audio then
 * video; peerConnection.js setConfiguration) and copies that list into every
 * transceiver the server creates. A device negotiated its own ids for the same
 * URIs on its first m-lines, and one BUNDLE group must map each id to one URI
 * (RFC 8285 §6, RFC 8843 §9.2), so a server renegotiation offer with werift's
 * ids is refused by Chromium ("A BUNDLE group contains a codec collision for
 * header extension id=2"). Before each server offer, the configured
 * extensions take the device's ids; extensions the device never mentioned
 * are dropped (any id for them could collide with one the device uses).
 */
import { RTCRtpHeaderExtensionParameters, type RTCPeerConnection } from 'werift'

const EXTMAP = /^a=extmap:(\d+)(?:\/[a-z]+)? (\S+)/

/** URI -> id as the device numbered them: negotiated m-lines first, then its SDP. */
function deviceIds (pc: RTCPeerConnection): Map<string, number> {
  const ids = new Map<string, number>()
  for (const t of pc.getTransceivers()) {
    for (const e of t.headerExtensions) if (!ids.has(e.uri)) ids.set(e.uri, e.id)
  }
  for (const line of (pc.remoteDescription?.sdp ?? '').split(/\r?\n/)) {
    const m = EXTMAP.exec(line)
    if (m !== null && !ids.has(m[2]!)) ids.set(m[2]!, Number(m[1]))
  }
  return ids
}

/** Rewrites pc.config.headerExtensions to the device's ids (call before createOffer). */
export function alignHeaderExtensionIds (pc: RTCPeerConnection): void {
  if (pc.remoteDescription === null) return
  const ids = deviceIds(pc)
  const config = pc.config.headerExtensions as Partial<Record<'audio' | 'video', RTCRtpHeaderExtensionParameters[]>>
  for (const kind of ['audio', 'video'] as const) {
    // new objects: transceivers already negotiated may hold the old ones
    config[kind] = (config[kind] ?? [])
      .filter((e) => ids.has(e.uri))
      .map((e) => new RTCRtpHeaderExtensionParameters({ id: ids.get(e.uri)!, uri: e.uri }))
  }
}
