import type { Logger } from 'pino'

/** A STUN/TURN server handed to clients; the server itself never contacts it. */
export interface IceServer { urls: string | string[], username?: string, credential?: string }

export interface MediaServerOptions {
  /** UDP ports for ICE (inclusive); default 40000-40999. */
  portRange?: { min: number, max: number }
  /** Bind address for media UDP sockets; default '0.0.0.0'. */
  listenAddress?: string
  /** Addresses put in the server's host candidates; default ['127.0.0.1']. */
  announcedAddresses?: string[]
  /** Handed to clients only (MediaServer.iceServers); the server never contacts them. */
  iceServers?: IceServer[]
  /** How often rooms emit 'stats' (ms, default 2000; 0 disables the timer). */
  statsIntervalMs?: number
  /** REMB cap the server announces to video senders (kbit/s, default 2500). */
  maxVideoBitrateKbps?: number
  logger?: Logger
}

export type Signal =
  | { type: 'offer', sdp: string }
  | { type: 'answer', sdp: string }
  | { type: 'candidate', candidate: CandidateInit }

export interface CandidateInit { candidate: string, sdpMid?: string | null, sdpMLineIndex?: number | null }

export type PeerState = 'new' | 'connecting' | 'connected' | 'failed' | 'closed'

export interface TrackStats {
  trackId: string
  /** Id of the peer that sends the track. */
  source: string
  kind: 'audio' | 'video'
  /** 'in': device -> server; 'out': server -> this peer (a forwarded copy). */
  direction: 'in' | 'out'
  packets: number
  bytes: number
  packetsLost: number
  /** 0..1 */
  lossRate: number
  jitterMs: number
  rttMs: number | null
  bitrateKbps: number
  /** Keyframe requests and retransmissions seen on this track. */
  pli: number
  nack: number
  retransmitted: number
  /** Out video tracks: frames the overload policy dropped (media/video-gate.ts). */
  droppedFrames?: number
}

export interface PeerStats { peerId: string, state: PeerState, tracks: TrackStats[] }
export interface RoomStats { roomId: string, ts: number, peers: PeerStats[] }
