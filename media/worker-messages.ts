/**
 * What media/media-workers.ts (the main thread) and media/room-worker.ts
 * (each worker thread) say to each other over the worker's port. Rooms and
 * peers are named by numeric handles the main thread hands out, never by
 * their ids: an id may come back (a device joins again) while the worker
 * still closes its previous holder.
 */
import type { MediaErrorCode } from './errors.js'
import type { PeerState, RoomStats, Signal } from './types.js'

/** What a worker's MediaServer is made with (plain values: they cross the thread boundary). */
export interface WorkerSetup {
  /** The worker's number in the pool (0-based), in its logs. */
  index: number
  /** The worker's own slice of the pool's port range: no two workers bind the same port. */
  portRange: { min: number, max: number }
  listenAddress: string
  announcedAddresses: string[]
  statsIntervalMs: number
  maxVideoBitrateKbps: number
  /** pino level of the pool's logger: the worker logs through it ('silent': not at all). */
  logLevel: string
}

export type ToWorker =
  | { op: 'createRoom', room: number, id: string }
  | { op: 'closeRoom', room: number, req: number }
  | { op: 'addPeer', room: number, peer: number, id: string }
  | { op: 'signal', peer: number, signal: Signal, req: number }
  | { op: 'closePeer', peer: number, req: number }
  | { op: 'stats', room: number, req: number }
  | { op: 'close', req: number }

export interface WireError { code: MediaErrorCode, message: string }

export type FromWorker =
  | { ev: 'reply', req: number, value?: unknown, error?: WireError }
  | { ev: 'signal', peer: number, signal: Signal }
  | { ev: 'state', peer: number, state: PeerState }
  | { ev: 'peerClose', peer: number }
  | { ev: 'stats', room: number, stats: RoomStats }
  | { ev: 'roomClose', room: number }
  | { ev: 'log', line: string }
