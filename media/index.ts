/** media/: the werift SFU. Other parts import only this file. */
export { MediaServer, type MediaServerEvents } from './media-server.js'
export { Room, type RoomEvents } from './room.js'
export { Peer, type PeerEvents } from './peer.js'
export { MediaWorkers, type MediaWorkersEvents } from './media-workers.js'
export { RemoteRoom, RemotePeer, type RemoteRoomEvents, type RemotePeerEvents } from './remote-room.js'
export { MediaError, type MediaErrorCode } from './errors.js'
export { checkSdp, checkCandidate, MAX_SDP_BYTES, MAX_M_LINES, MAX_CANDIDATE_BYTES } from './sdp-check.js'
export type {
  IceServer, MediaServerOptions, Signal, CandidateInit, PeerState, TrackStats, PeerStats, RoomStats
} from './types.js'
