/**
 * The SFU's root: owns the rooms and the settings every peer connection
 * shares. Signaling-agnostic: plain SDP/candidate values in and out.
 */
import { EventEmitter } from 'node:events'
import pino from 'pino'
import { DEFAULT_MAX_VIDEO_BITRATE_KBPS } from './codecs.js'
import { MediaError } from './errors.js'
import { checkServerOptions } from './server-options.js'
import type { PeerSetup } from './peer.js'
import { Room } from './room.js'
import type { IceServer, MediaServerOptions } from './types.js'

export type MediaServerEvents = { close: [] }

export class MediaServer extends EventEmitter<MediaServerEvents> {
  /** What clients should be given (the server itself never contacts them). */
  readonly iceServers: IceServer[]
  private readonly setup: PeerSetup
  private readonly statsIntervalMs: number
  private readonly rooms = new Map<string, Room>()
  private closing: Promise<void> | undefined

  constructor (options: MediaServerOptions = {}) {
    super()
    const { portRange, announced } = checkServerOptions(options)
    this.iceServers = (options.iceServers ?? []).map((s) => ({ ...s }))
    this.statsIntervalMs = options.statsIntervalMs ?? 2000
    this.setup = {
      portRange,
      listenAddress: options.listenAddress ?? '0.0.0.0',
      announcedAddresses: [...announced],
      maxVideoBitrateKbps: options.maxVideoBitrateKbps ?? DEFAULT_MAX_VIDEO_BITRATE_KBPS,
      logger: (options.logger ?? pino({ level: 'silent' })).child({ part: 'media' })
    }
  }

  createRoom (id: string): Room {
    if (this.closing !== undefined) throw new MediaError('HAIL_ERR_MEDIA_STATE', 'media server is closed')
    if (this.rooms.has(id)) throw new MediaError('HAIL_ERR_MEDIA_STATE', `room ${id} exists`)
    const room = new Room(id, this.setup, this.statsIntervalMs)
    this.rooms.set(id, room)
    room.once('close', () => { if (this.rooms.get(id) === room) this.rooms.delete(id) })
    return room
  }

  room (id: string): Room | undefined { return this.rooms.get(id) }

  close (): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.rooms.values()].map((r) => r.close()))
      this.rooms.clear()
      this.emit('close')
      this.removeAllListeners()
    })()
    return this.closing
  }
}
