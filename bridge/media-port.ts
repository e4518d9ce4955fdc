// media/'s plain types, not its index: index.d.ts reaches werift's types, which
// do not compile in an app with skipLibCheck false (test/package.test.ts).
import type { IceServer, PeerState, PeerStats, RoomStats, Signal, TrackStats } from '../media/types.js'

export type { IceServer, PeerState, PeerStats, RoomStats, Signal, TrackStats }

/**
 * The part of media/'s MediaServer the bridge uses (the contract in
 * docs/protocol.md "Calls"), as a structural type: the bridge is built and
 * tested against it, and the real MediaServer is plugged in by create-server.ts.
 */
export interface MediaPeer {
  readonly id: string
  on: (event: 'signal', listener: (signal: Signal) => void) => unknown
  signal: (s: Signal) => Promise<void>
  close: () => Promise<void>
}

export interface MediaRoom {
  readonly id: string
  on: ((event: 'stats', listener: (stats: RoomStats) => void) => unknown) &
    /** The room's media worker stopped: the room is gone, its call ends (media/'s MediaWorkers). */
    ((event: 'lost', listener: (err: Error) => void) => unknown)
  addPeer: (id: string) => MediaPeer
  peer: (id: string) => MediaPeer | undefined
  /** The figures now: at once in-process, from the room's worker thread with media workers. */
  stats: () => RoomStats | Promise<RoomStats>
  close: () => Promise<void>
}

/** media/'s MediaServer (rooms in this thread) or MediaWorkers (rooms spread over worker threads). */
export interface MediaRooms {
  readonly iceServers: IceServer[]
  createRoom: (id: string) => MediaRoom
  close: () => Promise<void>
}
