/**
 * A call's media: its peers, and a Forward for every (incoming track,
 * other peer) pair. Joins and leaves add/remove forwards, and each affected
 * subscriber renegotiates with a server offer.
 */
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { MediaError } from './errors.js'
import { Forward } from './forward.js'
import { Peer, type IncomingTrack, type PeerSetup } from './peer.js'
import { TrackStatsReader } from './track-stats.js'
import type { RoomStats } from './types.js'

export type RoomEvents = {
  peer: [Peer]
  peerLeft: [Peer]
  stats: [RoomStats]
  /** Never in-process: a room of MediaWorkers emits it when its worker thread stops (then 'close'). */
  lost: [MediaError]
  close: []
}

export class Room extends EventEmitter<RoomEvents> {
  readonly id: string
  private readonly setup: PeerSetup
  private readonly log: Logger
  private readonly _peers = new Map<string, Peer>()
  /** by incoming track id, then subscriber peer id */
  private readonly forwards = new Map<string, Map<string, Forward>>()
  private readonly reader = new TrackStatsReader()
  private readonly timer: NodeJS.Timeout | undefined
  private closing: Promise<void> | undefined

  constructor (id: string, setup: PeerSetup, statsIntervalMs: number) {
    super()
    this.id = id
    this.setup = { ...setup, logger: setup.logger.child({ room: id }) }
    this.log = this.setup.logger
    if (statsIntervalMs > 0) {
      this.timer = setInterval(() => {
        if (this._peers.size > 0) this.emit('stats', this.stats())
      }, statsIntervalMs)
    }
  }

  get closed (): boolean { return this.closing !== undefined }

  /** Adds a device; it then sends its offer through peer.signal(). */
  addPeer (id: string): Peer {
    if (this.closing !== undefined) throw new MediaError('HAIL_ERR_MEDIA_STATE', `room ${this.id} is closed`)
    if (typeof id !== 'string' || id.length === 0 || id.length > 256) throw new MediaError('HAIL_ERR_MEDIA_STATE', 'peer id must be a non-empty string')
    if (this._peers.has(id)) throw new MediaError('HAIL_ERR_MEDIA_STATE', `peer ${id} is already in room ${this.id}`)
    const peer = new Peer(id, this.setup)
    this._peers.set(id, peer)
    peer.on('track', (t) => this.onTrack(t))
    peer.on('state', (s) => { if (s === 'connected') this.askFirstKeyframes(peer) })
    peer.on('negotiated', () => { if (peer.state === 'connected') this.askFirstKeyframes(peer) })
    peer.on('keyframeRequest', (ssrcs) => {
      for (const f of this.forwardsTo(peer)) if (ssrcs.includes(f.sender.ssrc)) f.requestKeyframe()
    })
    peer.on('data', (label, data) => {
      for (const other of this._peers.values()) if (other !== peer) other.sendData(label, data)
    })
    peer.once('close', () => this.removePeer(peer))
    // tracks already in the room go to the newcomer once its own offer is
    // answered (so werift never answers a device offer with forwards in it)
    peer.once('negotiated', () => {
      let added = false
      for (const other of this._peers.values()) {
        if (other === peer) continue
        for (const t of other.incoming.values()) { this.addForward(t, peer); added = true }
      }
      if (added) peer.renegotiate()
    })
    this.log.debug({ peer: id }, 'peer added')
    this.emit('peer', peer)
    return peer
  }

  peer (id: string): Peer | undefined { return this._peers.get(id) }
  peers (): Peer[] { return [...this._peers.values()] }

  stats (): RoomStats {
    const now = Date.now()
    return {
      roomId: this.id,
      ts: now,
      peers: this.peers().map((p) => this.reader.peer(p, this.forwardsTo(p), now))
    }
  }

  close (): Promise<void> {
    this.closing ??= (async () => {
      if (this.timer !== undefined) clearInterval(this.timer)
      await Promise.all(this.peers().map((p) => p.close()))
      this.emit('close')
      this.removeAllListeners()
    })()
    return this.closing
  }

  private onTrack (t: IncomingTrack): void {
    for (const other of this._peers.values()) {
      if (other.id === t.peerId || !other.ready) continue
      this.addForward(t, other)
      other.renegotiate()
    }
  }

  private addForward (t: IncomingTrack, subscriber: Peer): void {
    let bySub = this.forwards.get(t.id)
    if (bySub === undefined) { bySub = new Map(); this.forwards.set(t.id, bySub) }
    if (bySub.has(subscriber.id)) return
    bySub.set(subscriber.id, new Forward(t, subscriber))
  }

  private forwardsTo (peer: Peer): Forward[] {
    const out: Forward[] = []
    for (const bySub of this.forwards.values()) {
      const f = bySub.get(peer.id)
      if (f !== undefined) out.push(f)
    }
    return out
  }

  /**
   * One PLI per video source once a subscriber's transport is up and its
   * answer has made the forward's m-line live (a keyframe sent before the
   * subscriber knows the track is wasted): fast first frame.
   */
  private askFirstKeyframes (peer: Peer): void {
    for (const f of this.forwardsTo(peer)) {
      if (f.firstKeyframeAsked || f.sender.ssrc === undefined || !f.negotiated) continue
      f.firstKeyframeAsked = true
      f.requestKeyframe()
    }
  }

  private removePeer (peer: Peer): void {
    if (this._peers.get(peer.id) !== peer) return
    this._peers.delete(peer.id)
    for (const [trackId, bySub] of this.forwards) {
      bySub.get(peer.id)?.stop()
      bySub.delete(peer.id)
      if (trackId.startsWith(`${peer.id}#`)) {
        for (const f of bySub.values()) f.stop() // subscribers renegotiate
        this.forwards.delete(trackId)
      }
    }
    this.reader.forget(`${peer.id}|`)
    this.log.debug({ peer: peer.id }, 'peer left')
    this.emit('peerLeft', peer)
  }
}
