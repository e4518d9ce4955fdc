import type { Logger } from 'pino'
import type { CallsConfig } from './calls-config.js'
import { loadMedia } from './load-media.js'
import type { MediaPeer, MediaRoom, MediaRooms, RoomStats, Signal } from './media-port.js'

/**
 * The media relay the calls config describes: media/'s MediaServer (werift,
 * rooms in this thread) when `mediaWorkers` is 0 or 1, else MediaWorkers
 * (rooms spread over that many worker threads, each with its slice of the
 * ports), on the configured ports and addresses, made once media/ has loaded. Until
 * then (the first call's first moments) a room and its peers stand in and
 * pass each call on, in order, when the real ones exist (load-media.ts:
 * werift loads on the first call, not with the library).
 */
export function createMediaRooms (config: Readonly<CallsConfig>, logger?: Logger): MediaRooms {
  let server: Promise<MediaRooms> | undefined
  let ready: MediaRooms | undefined
  const open = (): Promise<MediaRooms> => {
    server ??= loadMedia().then(({ MediaServer, MediaWorkers }) => {
      const options = {
        portRange: { min: config.mediaPortMin, max: config.mediaPortMax },
        listenAddress: config.mediaListenAddress,
        announcedAddresses: [...config.announcedAddresses],
        iceServers: config.iceServers.map((s) => ({ ...s })),
        statsIntervalMs: config.statsIntervalMs,
        logger
      }
      ready = config.mediaWorkers > 1 ? new MediaWorkers({ ...options, workers: config.mediaWorkers }) : new MediaServer(options)
      return ready
    })
    return server
  }
  return {
    iceServers: config.iceServers.map((s) => ({ ...s })),
    createRoom: (id) => ready?.createRoom(id) ?? new PendingRoom(id, open().then((rooms) => rooms.createRoom(id))),
    close: async () => { await (await server?.catch(() => undefined))?.close() }
  }
}

/** A room whose media/ Room is on its way; a failure to make it surfaces on the first signal. */
class PendingRoom implements MediaRoom {
  readonly id: string
  readonly #room: Promise<MediaRoom>
  #ready: MediaRoom | undefined
  readonly #listeners: Array<['stats', (stats: RoomStats) => void] | ['lost', (err: Error) => void]> = []
  readonly #peers = new Map<string, MediaPeer>()

  constructor (id: string, room: Promise<MediaRoom>) {
    this.id = id
    this.#room = room.then((ready) => {
      this.#ready = ready
      for (const [event, listener] of this.#listeners) ready.on(event as 'stats', listener as (stats: RoomStats) => void)
      return ready
    })
    this.#room.catch(() => {})
  }

  on (event: 'stats' | 'lost', listener: ((stats: RoomStats) => void) | ((err: Error) => void)): this {
    if (this.#ready !== undefined) this.#ready.on(event as 'stats', listener as (stats: RoomStats) => void)
    else this.#listeners.push([event, listener] as ['stats', (stats: RoomStats) => void])
    return this
  }

  addPeer (id: string): MediaPeer {
    if (this.#ready !== undefined) return this.#ready.addPeer(id)
    const peer = new PendingPeer(id, this.#room.then((room) => room.addPeer(id)))
    this.#peers.set(id, peer)
    return peer
  }

  /** Once the room exists it answers alone: a peer added early is its peer by then. */
  peer (id: string): MediaPeer | undefined {
    return this.#ready !== undefined ? this.#ready.peer(id) : this.#peers.get(id)
  }

  stats (): RoomStats | Promise<RoomStats> {
    return this.#ready?.stats() ?? { roomId: this.id, ts: Date.now(), peers: [] }
  }

  async close (): Promise<void> {
    await (await this.#room.catch(() => undefined))?.close()
  }
}

/** A peer whose room is on its way; its signals wait for it, in the order they came. */
class PendingPeer implements MediaPeer {
  readonly id: string
  readonly #peer: Promise<MediaPeer>
  readonly #signalListeners: Array<(signal: Signal) => void> = []
  #ready: MediaPeer | undefined

  constructor (id: string, peer: Promise<MediaPeer>) {
    this.id = id
    this.#peer = peer.then((ready) => {
      this.#ready = ready
      for (const listener of this.#signalListeners) ready.on('signal', listener)
      return ready
    })
    this.#peer.catch(() => {})
  }

  on (_event: 'signal', listener: (signal: Signal) => void): this {
    if (this.#ready !== undefined) this.#ready.on('signal', listener)
    else this.#signalListeners.push(listener)
    return this
  }

  async signal (signal: Signal): Promise<void> {
    await (await this.#peer).signal(signal)
  }

  async close (): Promise<void> {
    await (await this.#peer.catch(() => undefined))?.close()
  }
}
