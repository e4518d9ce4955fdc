/**
 * A room of media/media-workers.ts as the main thread sees it: the same
 * surface as Room and Peer (addPeer, signal, close, the signal/state/stats
 * events), each call a message to the worker thread that runs the real
 * ones. Checks that need no werift (closed room, duplicate peer id) are
 * made here, synchronously, as Room makes them.
 */
import { EventEmitter } from 'node:events'
import { MediaError } from './errors.js'
import type { ToWorker } from './worker-messages.js'
import type { PeerState, RoomStats, Signal } from './types.js'

/** The worker a room runs on, as the room needs it (media-workers.ts WorkerLane). */
export interface Lane {
  /** The worker's number in the pool. */
  readonly index: number
  readonly peers: Map<number, RemotePeer>
  nextHandle: () => number
  post: (m: ToWorker) => void
  request: (m: DistributiveOmit<ToWorker, 'req'>) => Promise<unknown>
}

export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

export type RemoteRoomEvents = {
  peer: [RemotePeer]
  peerLeft: [RemotePeer]
  stats: [RoomStats]
  /** The worker running the room stopped: the room is gone ('close' follows). */
  lost: [MediaError]
  close: []
}

export type RemotePeerEvents = {
  signal: [Signal]
  state: [PeerState]
  close: []
}

export class RemoteRoom extends EventEmitter<RemoteRoomEvents> {
  readonly id: string
  readonly #lane: Lane
  readonly #handle: number
  readonly #peers = new Map<string, RemotePeer>()
  #closing: Promise<void> | undefined
  #finished = false

  constructor (id: string, lane: Lane, handle: number) {
    super()
    this.id = id
    this.#lane = lane
    this.#handle = handle
    lane.post({ op: 'createRoom', room: handle, id })
  }

  /** The number of the worker thread the room runs on. */
  get worker (): number { return this.#lane.index }
  get closed (): boolean { return this.#closing !== undefined }
  /** Peers now in the room (placement weighs workers by it). */
  get size (): number { return this.#peers.size }

  addPeer (id: string): RemotePeer {
    if (this.#closing !== undefined) throw new MediaError('HAIL_ERR_MEDIA_STATE', `room ${this.id} is closed`)
    if (typeof id !== 'string' || id.length === 0 || id.length > 256) throw new MediaError('HAIL_ERR_MEDIA_STATE', 'peer id must be a non-empty string')
    if (this.#peers.has(id)) throw new MediaError('HAIL_ERR_MEDIA_STATE', `peer ${id} is already in room ${this.id}`)
    const handle = this.#lane.nextHandle()
    const peer = new RemotePeer(id, this.#lane, handle, () => this.#peerGone(id, peer))
    this.#peers.set(id, peer)
    this.#lane.peers.set(handle, peer)
    this.#lane.post({ op: 'addPeer', room: this.#handle, peer: handle, id })
    this.emit('peer', peer)
    return peer
  }

  peer (id: string): RemotePeer | undefined { return this.#peers.get(id) }
  peers (): RemotePeer[] { return [...this.#peers.values()] }

  /** The room's figures now, asked of its worker (in order with signals and closes sent before). */
  async stats (): Promise<RoomStats> {
    if (this.#finished) return { roomId: this.id, ts: Date.now(), peers: [] }
    return await this.#lane.request({ op: 'stats', room: this.#handle }) as RoomStats
  }

  close (): Promise<void> {
    this.#closing ??= this.#lane.request({ op: 'closeRoom', room: this.#handle })
      .catch(() => {}) // a lost worker closed it already
      .then(() => this.finish())
    return this.#closing
  }

  /** internal (WorkerLane): a stats event of the room. */
  stat (stats: RoomStats): void {
    if (!this.#finished) this.emit('stats', stats)
  }

  /** internal (WorkerLane): the worker stopped; every peer and the room end here. */
  lost (err: MediaError): void {
    if (this.#finished) return
    this.#closing ??= Promise.resolve()
    this.emit('lost', err)
    this.finish()
  }

  /** internal: the room is closed on its worker (or the worker is gone). */
  finish (): void {
    if (this.#finished) return
    this.#finished = true
    this.#closing ??= Promise.resolve()
    for (const peer of this.peers()) peer.finish()
    this.emit('close')
    this.removeAllListeners()
  }

  #peerGone (id: string, peer: RemotePeer): void {
    if (this.#peers.get(id) !== peer) return
    this.#peers.delete(id)
    this.emit('peerLeft', peer)
  }
}

export class RemotePeer extends EventEmitter<RemotePeerEvents> {
  readonly id: string
  readonly #lane: Lane
  readonly #handle: number
  readonly #gone: () => void
  #state: PeerState = 'new'
  #closing: Promise<void> | undefined
  #finished = false

  constructor (id: string, lane: Lane, handle: number, gone: () => void) {
    super()
    this.id = id
    this.#lane = lane
    this.#handle = handle
    this.#gone = gone
  }

  get state (): PeerState { return this.#state }

  /** A signal from the device, to its peer on the worker. Rejects with MediaError on bad input or state. */
  async signal (s: Signal): Promise<void> {
    if (this.#finished || this.#state === 'closed') throw new MediaError('HAIL_ERR_SIGNAL_STATE', `peer ${this.id} is closed`)
    let reply: Promise<unknown>
    try {
      reply = this.#lane.request({ op: 'signal', peer: this.#handle, signal: s })
    } catch (err) {
      // postMessage refuses what it cannot copy (a function, a symbol ...)
      throw new MediaError('HAIL_ERR_SIGNAL_STATE', 'a signal must be plain data', { cause: err })
    }
    await reply
  }

  close (): Promise<void> {
    this.#closing ??= this.#lane.request({ op: 'closePeer', peer: this.#handle })
      .catch(() => {})
      .then(() => this.finish())
    return this.#closing
  }

  /** internal (WorkerLane): the peer's state on the worker changed. */
  setState (s: PeerState): void {
    if (this.#finished || s === this.#state || this.#state === 'closed') return
    this.#state = s
    this.emit('state', s)
  }

  /** internal: the peer is closed on its worker (or the worker is gone). */
  finish (): void {
    if (this.#finished) return
    this.setState('closed')
    this.#finished = true
    this.#closing ??= Promise.resolve()
    this.#lane.peers.delete(this.#handle)
    this.#gone()
    this.emit('close')
    this.removeAllListeners()
  }
}
