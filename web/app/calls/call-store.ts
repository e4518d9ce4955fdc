import { signal } from '@preact/signals'
import type { Call, CallMedia, CallQuality, CallState, HailClient, PeerConnectionFactory } from 'hail/client'
import { describe } from '../chat/chat-store.js'
import { partnerOf } from '../chat/conversation-state.js'
import { QualitySampler, type QualitySample } from './quality-sampler.js'
import { Ringer } from './ringer.js'

export interface RemoteTile {
  /** The stream id: `{user}/{device}` through the relay; the other browser's own id in p2p. */
  id: string
  label: string
  stream: MediaStream
}

/** The call on screen. */
export interface ActiveCall {
  call: Call | undefined
  conv: string
  title: string
  media: CallMedia
  direction: 'incoming' | 'outgoing'
  state: CallState | 'placing'
  /** The callee's devices ring (the caller's side). */
  ringing: boolean
  local: MediaStream | undefined
  remotes: RemoteTile[]
  muted: boolean
  cameraOff: boolean
  answeredAt: number | undefined
  error: string | undefined
  quality: QualitySample[]
  /** The relay's figures per participant (sfu). */
  relay: CallQuality | undefined
}

/** What the page says once a call is over (until dismissed or the next call). */
export interface CallOutcome { title: string, text: string }

/**
 * The calls of this tab: the one on screen, the ones ringing here, and what
 * happened to the last. Built on client.calls (the SDK); each tab is a
 * device, so an incoming call rings in every tab of the user.
 */
export class CallStore {
  readonly active = signal<ActiveCall | null>(null)
  readonly incoming = signal<readonly Call[]>([])
  readonly outcome = signal<CallOutcome | null>(null)
  /** Group calls seen ringing in a conversation and not yet recorded as ended: they may be joined. */
  readonly joinable = signal<Readonly<Record<string, string>>>({})
  readonly #client: HailClient
  readonly #me: string
  readonly #device: string
  readonly #ringer = new Ringer()
  #sampler: QualitySampler | undefined
  #hangUpWhenPlaced = false

  readonly #title: (conv: string, from: string) => string

  /** `title` names a call for the screen: the other person of a direct chat, the group's name. */
  constructor (client: HailClient, me: string, title: (conv: string, from: string) => string) {
    this.#client = client
    this.#me = me
    this.#title = title
    this.#device = client.device
    client.calls.on('incoming', (call) => this.#onIncoming(call))
    // A call's record in its conversation: that call is over, nobody can join it any more.
    client.on('message', (m) => {
      const callId = (m.body as { callId?: unknown } | null)?.callId
      if (m.kind === 'call' && typeof callId === 'string' && this.joinable.value[m.conv] === callId) this.#forgetJoinable(m.conv)
    })
  }

  /** Calls from a conversation: a user (direct) or everyone in a group. */
  async place (conv: string, title: string, video: boolean): Promise<void> {
    if (this.active.value !== null) return
    this.outcome.value = null
    const media = { audio: true, video }
    this.#hangUpWhenPlaced = false
    this.active.value = blank({ conv, title, media, direction: 'outgoing', state: 'placing' })
    let stream: MediaStream
    try {
      stream = await navigator.mediaDevices.getUserMedia(media)
    } catch (err) {
      return this.#fail(title, `The ${video ? 'camera or microphone' : 'microphone'} is not available: ${(err as Error).message}`)
    }
    this.#patch({ local: stream })
    try {
      const call = await this.#client.calls.place({ conv, media, peer: peerWith(stream) })
      this.#follow(call, stream)
      if (this.#hangUpWhenPlaced) await call.hangup()
    } catch (err) {
      stopStream(stream)
      this.#fail(title, describe(err))
    }
  }

  async join (conv: string, callId: string, title: string): Promise<void> {
    if (this.active.value !== null) return
    this.outcome.value = null
    const media = { audio: true, video: true }
    this.active.value = blank({ conv, title, media, direction: 'outgoing', state: 'connecting' })
    let stream: MediaStream
    try {
      stream = await navigator.mediaDevices.getUserMedia(media)
    } catch (err) {
      return this.#fail(title, `The camera or microphone is not available: ${(err as Error).message}`)
    }
    try {
      const call = await this.#client.calls.join(callId, { media, peer: peerWith(stream) })
      this.#follow(call, stream)
    } catch (err) {
      stopStream(stream)
      this.#forgetJoinable(conv)
      this.#fail(title, describe(err))
    }
  }

  async answer (call: Call, video: boolean): Promise<void> {
    this.#dropIncoming(call)
    if (this.active.value !== null) await this.hangUp()
    this.outcome.value = null
    const title = this.#title(call.conv, call.from)
    const media = { audio: call.media.audio, video: call.media.video && video }
    this.active.value = blank({ conv: call.conv, title, media, direction: 'incoming', state: 'connecting', call })
    let stream: MediaStream
    try {
      stream = await navigator.mediaDevices.getUserMedia(media)
    } catch (err) {
      await call.reject().catch(() => {})
      return this.#fail(title, `The camera or microphone is not available: ${(err as Error).message}`)
    }
    this.#follow(call, stream)
    try {
      await call.answer({ peer: peerWith(stream) })
    } catch (err) {
      // Another device was first, most likely; the call's 'ended' says so if it is.
      if (this.active.value?.call === call) this.#end(call, describe(err))
    }
  }

  async reject (call: Call): Promise<void> {
    this.#dropIncoming(call)
    await call.reject().catch(() => {})
  }

  async hangUp (): Promise<void> {
    const active = this.active.value
    if (active === null) return
    if (active.call === undefined) {
      // Still placing: hang up as soon as the call exists.
      this.#hangUpWhenPlaced = true
      return
    }
    await active.call.hangup().catch(() => {})
  }

  toggleMute (): void {
    const a = this.active.value
    if (a?.local === undefined) return
    for (const t of a.local.getAudioTracks()) t.enabled = a.muted
    this.#patch({ muted: !a.muted })
  }

  toggleCamera (): void {
    const a = this.active.value
    if (a?.local === undefined) return
    for (const t of a.local.getVideoTracks()) t.enabled = a.cameraOff
    this.#patch({ cameraOff: !a.cameraOff })
  }

  dismissOutcome (): void {
    this.outcome.value = null
  }

  #onIncoming (call: Call): void {
    this.incoming.value = [...this.incoming.value, call]
    if (!call.conv.startsWith('d:')) this.joinable.value = { ...this.joinable.value, [call.conv]: call.id }
    this.#ringer.start()
    call.once('ended', ({ reason }) => {
      const stillRinging = this.incoming.value.includes(call)
      this.#dropIncoming(call)
      // Answered here: the call on screen reports its own end.
      if (!stillRinging || this.active.value?.call === call) return
      const who = this.#title(call.conv, call.from)
      const text = reason === 'answered-elsewhere'
        ? 'Answered on another device'
        : reason === 'cancelled' ? `${call.from} hung up before you answered` : reason === 'rejected' ? 'Declined' : `Missed call from ${call.from}`
      this.outcome.value = { title: who, text }
    })
  }

  #dropIncoming (call: Call): void {
    this.incoming.value = this.incoming.value.filter((c) => c !== call)
    if (this.incoming.value.length === 0) this.#ringer.stop()
  }

  #follow (call: Call, stream: MediaStream): void {
    this.#patch({ call, local: stream, state: call.state, error: undefined })
    const mine = (): boolean => this.active.value?.call === call
    const p2pLabel = call.direction === 'incoming' ? call.from : (partnerOf(call.conv, this.#me) ?? 'remote')
    call.on('state', (state) => {
      if (!mine()) return
      this.#patch({ state, ...(state === 'active' && this.active.value?.answeredAt === undefined ? { answeredAt: Date.now() } : {}) })
    })
    call.on('ringing', () => { if (mine()) this.#patch({ ringing: true }) })
    call.on('accepted', () => { if (mine()) this.#patch({ ringing: false }) })
    call.on('error', (err) => { if (mine()) this.#patch({ error: describe(err) }) })
    call.on('stats', (relay) => { if (mine()) this.#patch({ relay }) })
    call.on('track', ({ track, streams }) => {
      if (!mine()) return
      const remote = (streams[0] as MediaStream | undefined) ?? new MediaStream([track as MediaStreamTrack])
      const tiles = this.active.value!.remotes
      if (tiles.some((t) => t.stream === remote)) return this.#patch({ remotes: [...tiles] })
      // The relay names each stream after its sender's client id; p2p streams carry a random id.
      const label = call.mode === 'p2p' ? p2pLabel : remote.id.split('/')[0] ?? remote.id
      remote.addEventListener('removetrack', () => {
        if (remote.getTracks().length === 0 && mine()) this.#patch({ remotes: this.active.value!.remotes.filter((t) => t.stream !== remote) })
      })
      this.#patch({ remotes: [...tiles, { id: remote.id, label, stream: remote }] })
    })
    call.on('participant-left', ({ participant }) => {
      if (mine()) this.#patch({ remotes: this.active.value!.remotes.filter((t) => t.id !== participant) })
    })
    call.once('ended', ({ reason, by }) => {
      if (!mine()) return
      this.#end(call, endText(reason, call), reason === 'hangup' && by === `${this.#me}/${this.#device}`)
    })
    this.#sampler?.stop()
    this.#sampler = new QualitySampler(call, (quality) => { if (mine()) this.#patch({ quality }) })
  }

  #end (call: Call, text: string, left = false): void {
    const active = this.active.value
    if (active === null) return
    this.#sampler?.stop()
    this.#sampler = undefined
    stopStream(active.local)
    // A group call may go on without this device; its record, when it comes, says it ended.
    if (left && !call.conv.startsWith('d:')) this.joinable.value = { ...this.joinable.value, [call.conv]: call.id }
    this.active.value = null
    this.outcome.value = { title: active.title, text }
  }

  #fail (title: string, text: string): void {
    stopStream(this.active.value?.local)
    this.active.value = null
    this.outcome.value = { title, text }
  }

  #forgetJoinable (conv: string): void {
    const next = { ...this.joinable.value }
    delete next[conv]
    this.joinable.value = next
  }

  #patch (change: Partial<ActiveCall>): void {
    const a = this.active.value
    if (a !== null) this.active.value = { ...a, ...change }
  }
}

function blank (init: Pick<ActiveCall, 'conv' | 'title' | 'media' | 'direction' | 'state'> & { call?: Call }): ActiveCall {
  return { call: undefined, ringing: false, local: undefined, remotes: [], muted: false, cameraOff: false, answeredAt: undefined, error: undefined, quality: [], relay: undefined, ...init }
}

/** The SDK's peer factory: a browser RTCPeerConnection with this device's tracks. */
function peerWith (stream: MediaStream): PeerConnectionFactory {
  return ({ iceServers }) => {
    const pc = new RTCPeerConnection({ iceServers })
    for (const track of stream.getTracks()) pc.addTrack(track, stream)
    return pc as unknown as ReturnType<PeerConnectionFactory>
  }
}

function stopStream (stream: MediaStream | undefined): void {
  for (const t of stream?.getTracks() ?? []) t.stop()
}

function endText (reason: string, call: Call): string {
  switch (reason) {
    case 'hangup': return 'Call ended'
    case 'rejected': return 'Declined'
    case 'busy': return 'Busy: in another call'
    case 'cancelled': return call.direction === 'outgoing' ? 'Cancelled' : 'Call ended'
    case 'missed': return 'No answer'
    case 'answered-elsewhere': return 'Answered on another device'
    case 'disconnected': return 'The other side lost its connection'
    case 'media-failed': return 'The media connection failed'
    case 'closed': return 'Signed out'
    case 'accept-failed': return 'Answered on another device'
    default: return `Call ended (${reason})`
  }
}
