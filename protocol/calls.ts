/** A signaling message (SDP or one candidate) is at most this many bytes (DESIGN.md, limits). */
export const MAX_SIGNAL_BYTES = 64 * 1024

/** One ICE candidate, as RTCPeerConnection gives and takes it. */
export interface IceCandidateInit { candidate: string, sdpMid?: string | null, sdpMLineIndex?: number | null }

/** What the device and the server's media endpoint (or, in p2p, the other device) exchange. */
export type Signal =
  | { type: 'offer', sdp: string }
  | { type: 'answer', sdp: string }
  | { type: 'candidate', candidate: IceCandidateInit }

/** A STUN/TURN server handed to devices in a call grant. */
export interface IceServer { urls: string | string[], username?: string, credential?: string }

export type CallMode = 'sfu' | 'p2p'
export interface CallMedia { audio: boolean, video: boolean }

/** The `event` of a call event on a party's inbox. */
export type CallEventName = 'ring' | 'accepted' | 'answered-elsewhere' | 'rejected' | 'busy' | 'cancelled' | 'missed' | 'ended' | 'joined' | 'left'
export const CALL_EVENTS: readonly CallEventName[] = ['ring', 'accepted', 'answered-elsewhere', 'rejected', 'busy', 'cancelled', 'missed', 'ended', 'joined', 'left']

/**
 * Why a call ended (the record's `reason`, the `ended` event's `reason`); 'node-lost': the node running it died;
 * 'media-lost': the media relay's worker thread carrying its media stopped (the node and its other calls go on).
 */
export type EndReason = 'hangup' | 'cancelled' | 'rejected' | 'missed' | 'busy' | 'disconnected' | 'shutdown' | 'failed' | 'node-lost' | 'media-lost'

/** A call event in the user's inbox (`type: 'call'`), on every device of every party. */
export interface CallNotice {
  event: CallEventName
  callId: string
  conv: string
  from: string
  media: CallMedia
  mode: CallMode
  /** `{user}/{device}` that caused it (accepted, joined, left ...). */
  by?: string
  reason?: string
}

/** The server's (or, in p2p, the other device's) signal on a device's reply topic (`type: 'call.signal'`). */
export interface CallSignalNotice { callId: string, signal: Signal, from?: string }

/** What call.invite, call.accept and call.join answer. */
export interface CallGrant { callId: string, conv?: string, mode: CallMode, iceServers: IceServer[] }

/** One track's live figures as the server's relay measures them. */
export interface TrackQuality {
  trackId: string
  /** The participant (`{user}/{device}`) that sends the track. */
  source: string
  kind: 'audio' | 'video'
  /** 'in': device -> server; 'out': server -> this participant (a forwarded copy). */
  direction: 'in' | 'out'
  packets: number
  bytes: number
  packetsLost: number
  /** 0..1 */
  lossRate: number
  jitterMs: number
  rttMs: number | null
  bitrateKbps: number
}

/** The server's live figures for a call, on im/call/{callId}/stats (`type: 'call.stats'`). */
export interface CallQuality {
  callId: string
  ts: number
  peers: Array<{ peerId: string, state: string, tracks: TrackQuality[] }>
}

/**
 * One track as the relay received it, in a call record: the live figures
 * without ids and direction, summed over every stay of its device in the
 * call; `bitrateKbps` is the call's average (bytes over the device's time in
 * the call), `lastBitrateKbps` the last live figure.
 */
export type RecordedTrackQuality = Omit<TrackQuality, 'trackId' | 'direction'> & { lastBitrateKbps: number }

/** The body of the message of kind `call` appended to the conversation when a call ends. */
export interface CallRecord {
  callId: string
  media: CallMedia
  mode: CallMode
  from: string
  startedAt: number
  answeredAt: number | null
  endedAt: number
  durationMs: number
  reason: string
  participants: Array<{ device: string, joinedAt: number, leftAt: number | null }>
  /** Figures of each track the relay received (sfu only; p2p media never reaches the server). */
  quality: { tracks: RecordedTrackQuality[] } | null
}

/** Topics of a call: only its parties may use them. */
export const callTopics = {
  signal: (id: string): string => `im/call/${id}/signal`,
  stats: (id: string): string => `im/call/${id}/stats`
}

/** `im/call/{callId}/{leaf}` → its parts, or null. */
export function parseCallTopic (topic: string): { callId: string, leaf: string } | null {
  const levels = topic.split('/')
  if (levels.length !== 4 || levels[0] !== 'im' || levels[1] !== 'call') return null
  return { callId: levels[2]!, leaf: levels[3]! }
}
