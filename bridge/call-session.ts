import type { Logger } from 'pino'
import { ImError } from '../broker/index.js'
import type { Call } from './call.js'
import type { MediaPeer, MediaRoom, MediaRooms, PeerStats, RoomStats, Signal } from './media-port.js'

export interface CallSessionHandlers {
  /** A signal for a device: from the relay (sfu) or from the other device (p2p, with `from`). */
  signal: (device: string, signal: Signal, from?: string) => void
  stats: (stats: RoomStats) => void
  /** The call's room is gone: its media worker stopped (media/'s MediaWorkers). */
  lost: (err: Error) => void
}

/**
 * A call's media side. In sfu mode a room of the media relay with one peer
 * per device in the call, made on the first join (no call, no media work);
 * in p2p mode nothing but the relay of signals between the two devices.
 */
export class CallSession {
  readonly #call: Call
  readonly #media: () => MediaRooms
  readonly #handlers: CallSessionHandlers
  readonly #log: Logger
  #room: MediaRoom | undefined
  /** Latest figures of each device's current stay, for the record. */
  readonly #peerStats = new Map<string, PeerStats>()
  /** Latest figures of stays that ended (a device may leave a group call and join again). */
  readonly #stays: PeerStats[] = []
  /** Devices that left: figures of their closing peer that come late are not a new stay. */
  readonly #gone = new Set<string>()
  /** Leaves whose last figures the room's worker is still sending: the record waits for them. */
  readonly #leaving = new Set<Promise<void>>()
  #lastTs = 0
  #closed = false

  constructor (call: Call, media: () => MediaRooms, handlers: CallSessionHandlers, logger: Logger) {
    this.#call = call
    this.#media = media
    this.#handlers = handlers
    this.#log = logger
  }

  /**
   * The latest figures of every stay of every device (sfu; a device that
   * joined twice has two entries), for the call record. Each track's
   * `bitrateKbps` is the last figure of the live stats, not of the snapshot
   * taken as the device left (a few ms after the previous one: 0).
   */
  get recordStats (): RoomStats | undefined {
    if (this.#room === undefined) return undefined
    return { roomId: this.#call.id, ts: this.#lastTs, peers: [...this.#stays, ...this.#peerStats.values()] }
  }

  join (device: string): void {
    if (this.#call.mode === 'p2p' || this.#closed) return
    this.#gone.delete(device)
    const room = this.#room ??= this.#openRoom()
    const peer: MediaPeer = room.addPeer(device)
    peer.on('signal', (signal) => this.#handlers.signal(device, signal))
  }

  leave (device: string): void {
    const peer = this.#room?.peer(device)
    const end = (): void => {
      const stay = this.#peerStats.get(device)
      if (stay !== undefined) this.#stays.push(stay)
      this.#peerStats.delete(device)
      this.#gone.add(device)
    }
    // A worker's room answers after the figures it had before the close (messages keep their order),
    // and the device cannot join again before its peer closed (the room refuses the id till then).
    const snapshot = peer === undefined ? undefined : this.#snapshot()
    if (snapshot === undefined) {
      end()
    } else {
      const done = snapshot.then(end)
      this.#leaving.add(done)
      void done.finally(() => this.#leaving.delete(done))
    }
    peer?.close().catch((err: unknown) => this.#log.warn({ err, device }, 'closing a media peer failed'))
  }

  /** A device's signal: to its peer in the relay, or to the other device in p2p. Rejects with ImError or MediaError. */
  async signal (from: string, signal: Signal): Promise<void> {
    if (this.#call.mode === 'p2p') {
      const other = [...this.#call.participants].map(([user, device]) => `${user}/${device}`).find((d) => d !== from)
      if (other === undefined) throw new ImError('HAIL_ERR_CALL_STATE', `nobody to signal to in call ${this.#call.id} yet: wait for 'accepted'`)
      this.#handlers.signal(other, signal, from)
      return
    }
    const peer = this.#room?.peer(from)
    if (peer === undefined) throw new ImError('HAIL_ERR_CALL_STATE', `you have no media in call ${this.#call.id}`)
    await peer.signal(signal)
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const room = this.#room
    if (room === undefined) return
    await this.#snapshot()
    await Promise.all(this.#leaving)
    await room.close()
  }

  #openRoom (): MediaRoom {
    const room = this.#media().createRoom(this.#call.id)
    room.on('stats', (stats) => {
      this.#keep(stats, true)
      this.#handlers.stats(stats)
    })
    room.on('lost', (err) => this.#handlers.lost(err))
    return room
  }

  /** Keeps the room's figures now; a promise while its worker answers (none in-process: kept at once). */
  #snapshot (): Promise<void> | undefined {
    let stats: RoomStats | Promise<RoomStats> | undefined
    try {
      stats = this.#room?.stats()
    } catch (err) {
      this.#log.debug({ err }, 'no room stats')
    }
    if (stats === undefined) return undefined
    if (!(stats instanceof Promise)) {
      this.#keep(stats, false)
      return undefined
    }
    return stats.then((s) => this.#keep(s, false), (err: unknown) => this.#log.debug({ err }, 'no room stats'))
  }

  /** Keep the figures of devices in the call; a snapshot's bitrate (since the last sample, moments ago) gives way to the live one. */
  #keep (stats: RoomStats, live: boolean): void {
    this.#lastTs = stats.ts
    for (const peer of stats.peers) {
      if (this.#gone.has(peer.peerId)) continue
      const before = this.#peerStats.get(peer.peerId)
      const tracks = live || before === undefined
        ? peer.tracks
        : peer.tracks.map((t) => {
          const was = before.tracks.find((b) => b.trackId === t.trackId && b.direction === t.direction)
          return was === undefined ? t : { ...t, bitrateKbps: was.bitrateKbps }
        })
      this.#peerStats.set(peer.peerId, { ...peer, tracks })
    }
  }
}
