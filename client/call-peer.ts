/**
 * The part of the W3C RTCPeerConnection the SDK drives. The browser's
 * RTCPeerConnection and werift's (Node) both have it, so one call engine
 * runs on either: the app injects a factory and the SDK never imports a
 * WebRTC implementation itself (it stays bundleable for browsers).
 */
import type { IceCandidateInit, IceServer } from '../protocol/index.js'

export type { IceCandidateInit, IceServer }

export interface SessionDescriptionLike { type: string, sdp?: string }

/** Only the members the SDK reads; both implementations have more. */
export interface PeerConnectionLike {
  readonly connectionState: string
  readonly localDescription: SessionDescriptionLike | null
  onicecandidate: ((event: { candidate: IceCandidateInit | null | undefined }) => void) | null
  ontrack: ((event: { track: unknown, streams: readonly unknown[] }) => void) | null
  onconnectionstatechange: ((...args: never[]) => void) | null
  createOffer: () => Promise<SessionDescriptionLike>
  createAnswer: () => Promise<SessionDescriptionLike>
  setLocalDescription: (description: SessionDescriptionLike) => Promise<unknown>
  setRemoteDescription: (description: { type: 'offer' | 'answer', sdp: string }) => Promise<unknown>
  addIceCandidate: (candidate: IceCandidateInit) => Promise<unknown>
  /** A Map-like report; entries are W3C RTCStats dictionaries. */
  getStats: () => Promise<{ forEach: (fn: (stat: Record<string, unknown>) => void) => void }>
  close: () => unknown
}

/**
 * Makes this device's peer connection for a call, with its local tracks
 * already added (send and receive). Browser:
 *   (config) => { const pc = new RTCPeerConnection(config); stream.getTracks().forEach((t) => pc.addTrack(t, stream)); return pc }
 * Node (werift): the same with werift's RTCPeerConnection and addTransceiver.
 */
export type PeerConnectionFactory = (config: { iceServers: IceServer[] }) => PeerConnectionLike | Promise<PeerConnectionLike>

/** A remote participant's media as the peer connection reports it. */
export interface RemoteTrack {
  /** A MediaStreamTrack (browser) or werift's track. */
  track: unknown
  /** The MediaStreams it belongs to (browser); may be empty. */
  streams: readonly unknown[]
}
