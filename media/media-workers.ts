/**
 * The SFU on every core: N worker threads, each running a MediaServer
 * (media/room-worker.ts) with its own slice of the port range. A room lives
 * on one worker, the least loaded when it is made (its peers, and every
 * packet forwarded among them, stay there); the main thread keeps only the
 * rooms' and peers' stand-ins (media/remote-room.ts), so signaling is what
 * it was. A worker that stops ends its rooms (each emits 'lost', then
 * 'close') and is replaced; the other workers' rooms go on.
 */
import { EventEmitter } from 'node:events'
import { Worker } from 'node:worker_threads'
import pino, { type Logger } from 'pino'
import { DEFAULT_MAX_VIDEO_BITRATE_KBPS } from './codecs.js'
import { MediaError } from './errors.js'
import { checkServerOptions } from './server-options.js'
import { RemoteRoom, type DistributiveOmit, type Lane, type RemotePeer } from './remote-room.js'
import type { IceServer, MediaServerOptions } from './types.js'
import type { FromWorker, ToWorker, WorkerSetup } from './worker-messages.js'

export type MediaWorkersEvents = {
  /** A worker stopped (its rooms ended) and a new one takes its place. */
  workerLost: [{ worker: number, rooms: number, reason: string }]
  close: []
}

/** A worker that stops sooner than this after it started is replaced after a pause (doubling to 30 s), not at once. */
const STEADY_MS = 5000
/** How long close() waits for a worker to close its rooms before it stops the thread. */
const CLOSE_WAIT_MS = 10_000

const WORKER_URL = new URL('./room-worker.js', import.meta.url)

/** Splits [min, max] into n contiguous slices, as even as whole ports allow. */
export function splitPortRange (range: { min: number, max: number }, n: number): Array<{ min: number, max: number }> {
  const size = range.max - range.min + 1
  return Array.from({ length: n }, (_, i) => ({
    min: range.min + Math.floor(i * size / n),
    max: range.min + Math.floor((i + 1) * size / n) - 1
  }))
}

/** One worker thread, from its start to its exit. */
class WorkerLane implements Lane {
  readonly index: number
  readonly worker: Worker
  readonly startedAt = Date.now()
  readonly rooms = new Map<number, RemoteRoom>()
  readonly peers = new Map<number, RemotePeer>()
  readonly #pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  #handles = 0
  #requests = 0
  dead: MediaError | undefined

  constructor (index: number, setup: WorkerSetup) {
    this.index = index
    this.worker = new Worker(WORKER_URL, { workerData: setup })
    this.worker.unref() // a pool left open does not keep the process alive (its rooms' peers do not either)
  }

  nextHandle (): number { return ++this.#handles }

  /** Peers in its rooms, an empty room counted as one: what placement compares. */
  get load (): number {
    let n = 0
    for (const room of this.rooms.values()) n += Math.max(1, room.size)
    return n
  }

  post (m: ToWorker): void {
    if (this.dead === undefined) this.worker.postMessage(m)
  }

  /** Throws at once when the message cannot be copied; rejects with the worker's MediaError, or when the worker stops. */
  request (m: DistributiveOmit<ToWorker, 'req'>): Promise<unknown> {
    if (this.dead !== undefined) return Promise.reject(this.dead)
    const req = ++this.#requests
    this.worker.postMessage({ ...m, req })
    return new Promise((resolve, reject) => this.#pending.set(req, { resolve, reject }))
  }

  reply (m: Extract<FromWorker, { ev: 'reply' }>): void {
    const p = this.#pending.get(m.req)
    if (p === undefined) return
    this.#pending.delete(m.req)
    if (m.error === undefined) p.resolve(m.value)
    else p.reject(new MediaError(m.error.code, m.error.message))
  }

  /** The thread is gone: every request fails with `err`, every room ends. */
  stopped (err: MediaError, lost: boolean): void {
    this.dead = err
    for (const p of this.#pending.values()) p.reject(err)
    this.#pending.clear()
    for (const room of [...this.rooms.values()]) {
      if (lost) room.lost(err)
      else room.finish()
    }
    this.rooms.clear()
  }
}

export class MediaWorkers extends EventEmitter<MediaWorkersEvents> {
  readonly iceServers: IceServer[]
  readonly #log: Logger
  readonly #setups: WorkerSetup[]
  /** By worker number: the running lane, or undefined while a replacement waits. */
  readonly #lanes: Array<WorkerLane | undefined>
  readonly #restartDelay: number[]
  readonly #restartTimers = new Set<NodeJS.Timeout>()
  readonly #rooms = new Map<string, RemoteRoom>()
  #rooms0 = 0
  #closing: Promise<void> | undefined

  /** `workers` threads (at least 1; fewer when the port range has fewer ports). */
  constructor (options: MediaServerOptions & { workers: number }) {
    super()
    const { portRange, announced } = checkServerOptions(options)
    if (!Number.isInteger(options.workers) || options.workers < 1) throw new MediaError('HAIL_ERR_MEDIA_STATE', `bad workers ${String(options.workers)}`)
    this.iceServers = (options.iceServers ?? []).map((s) => ({ ...s }))
    const logger = options.logger ?? pino({ level: 'silent' })
    this.#log = logger.child({ part: 'media' })
    const n = Math.min(options.workers, portRange.max - portRange.min + 1)
    this.#setups = splitPortRange(portRange, n).map((slice, index) => ({
      index,
      portRange: slice,
      listenAddress: options.listenAddress ?? '0.0.0.0',
      announcedAddresses: [...announced],
      statsIntervalMs: options.statsIntervalMs ?? 2000,
      maxVideoBitrateKbps: options.maxVideoBitrateKbps ?? DEFAULT_MAX_VIDEO_BITRATE_KBPS,
      logLevel: logger.level
    }))
    this.#restartDelay = this.#setups.map(() => 0)
    this.#lanes = this.#setups.map((setup) => this.#start(setup))
  }

  /** How many worker threads the pool runs. */
  get size (): number { return this.#setups.length }

  /** The worker threads now (threadId: for a test that stops one as a crash would). */
  workers (): Array<{ index: number, threadId: number | undefined, rooms: number, load: number }> {
    return this.#lanes.map((lane, index) => ({ index, threadId: lane?.worker.threadId, rooms: lane?.rooms.size ?? 0, load: lane?.load ?? 0 }))
  }

  /** Stops a worker thread as a crash would (terminate): its rooms end with 'lost', a new worker takes its place. */
  async killWorker (index: number): Promise<void> {
    await this.#lanes[index]?.worker.terminate()
  }

  createRoom (id: string): RemoteRoom {
    if (this.#closing !== undefined) throw new MediaError('HAIL_ERR_MEDIA_STATE', 'media server is closed')
    if (this.#rooms.has(id)) throw new MediaError('HAIL_ERR_MEDIA_STATE', `room ${id} exists`)
    const lane = this.#leastLoaded()
    if (lane === undefined) throw new MediaError('HAIL_ERR_MEDIA', 'no media worker is running (each stopped soon after it started; see the log)')
    const handle = ++this.#rooms0
    const room = new RemoteRoom(id, lane, handle)
    lane.rooms.set(handle, room)
    this.#rooms.set(id, room)
    room.once('close', () => {
      lane.rooms.delete(handle)
      if (this.#rooms.get(id) === room) this.#rooms.delete(id)
    })
    this.#log.debug({ room: id, worker: lane.index }, 'room placed')
    return room
  }

  room (id: string): RemoteRoom | undefined { return this.#rooms.get(id) }

  close (): Promise<void> {
    this.#closing ??= (async () => {
      for (const t of this.#restartTimers) clearTimeout(t)
      this.#restartTimers.clear()
      await Promise.all(this.#lanes.map(async (lane) => {
        if (lane === undefined || lane.dead !== undefined) return
        let timer: NodeJS.Timeout | undefined
        await Promise.race([
          lane.request({ op: 'close' }).catch(() => {}),
          new Promise((resolve) => { timer = setTimeout(resolve, CLOSE_WAIT_MS) })
        ])
        clearTimeout(timer)
        lane.stopped(new MediaError('HAIL_ERR_MEDIA_STATE', 'media server is closed'), false)
        await lane.worker.terminate()
      }))
      this.#rooms.clear()
      this.emit('close')
      this.removeAllListeners()
    })()
    return this.#closing
  }

  #leastLoaded (): WorkerLane | undefined {
    let best: WorkerLane | undefined
    for (const lane of this.#lanes) {
      if (lane === undefined || lane.dead !== undefined) continue
      if (best === undefined || lane.load < best.load || (lane.load === best.load && lane.rooms.size < best.rooms.size)) best = lane
    }
    return best
  }

  #start (setup: WorkerSetup): WorkerLane {
    const lane = new WorkerLane(setup.index, setup)
    const log = this.#log.child({ worker: setup.index })
    let error: Error | undefined
    lane.worker.on('message', (m: FromWorker) => this.#onMessage(lane, log, m))
    lane.worker.on('error', (err) => { error = err })
    lane.worker.on('exit', (code) => this.#onExit(lane, log, code, error))
    log.debug({ threadId: lane.worker.threadId, ports: setup.portRange }, 'media worker started')
    return lane
  }

  #onMessage (lane: WorkerLane, log: Logger, m: FromWorker): void {
    switch (m.ev) {
      case 'reply': lane.reply(m); return
      case 'signal': lane.peers.get(m.peer)?.emit('signal', m.signal); return
      case 'state': lane.peers.get(m.peer)?.setState(m.state); return
      case 'peerClose': lane.peers.get(m.peer)?.finish(); return
      case 'stats': lane.rooms.get(m.room)?.stat(m.stats); return
      case 'roomClose': lane.rooms.get(m.room)?.finish(); return
      case 'log': relayLog(log, m.line)
    }
  }

  #onExit (lane: WorkerLane, log: Logger, code: number, error: Error | undefined): void {
    if (this.#closing !== undefined || lane.dead !== undefined) {
      lane.stopped(lane.dead ?? new MediaError('HAIL_ERR_MEDIA_STATE', 'media server is closed'), false)
      return
    }
    const reason = error !== undefined ? `${error.name}: ${error.message}` : `exit code ${code}`
    const rooms = lane.rooms.size
    log.error({ err: error, code, rooms }, `media worker ${lane.index} stopped (${reason}): its ${rooms} call(s) end, a new worker takes its place`)
    lane.stopped(new MediaError('HAIL_ERR_MEDIA', `media worker ${lane.index} stopped (${reason})`), true)
    this.emit('workerLost', { worker: lane.index, rooms, reason })
    const index = lane.index
    this.#lanes[index] = undefined
    const steady = Date.now() - lane.startedAt >= STEADY_MS
    this.#restartDelay[index] = steady ? 0 : Math.min(30_000, Math.max(1000, this.#restartDelay[index]! * 2))
    const restart = (): void => {
      if (this.#closing === undefined) this.#lanes[index] = this.#start(this.#setups[index]!)
    }
    if (this.#restartDelay[index] === 0) { restart(); return }
    const timer = setTimeout(() => { this.#restartTimers.delete(timer); restart() }, this.#restartDelay[index])
    timer.unref()
    this.#restartTimers.add(timer)
  }
}

/** A worker's pino line, logged again through the pool's logger (which adds `worker`). */
function relayLog (log: Logger, line: string): void {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(line)
  } catch {
    return
  }
  const { level, msg, part: _part, ...rest } = entry
  const label = pino.levels.labels[level as number] ?? 'info'
  const fn = (log as unknown as Record<string, ((obj: object, msg?: string) => void) | undefined>)[label]
  fn?.call(log, rest, typeof msg === 'string' ? msg : undefined)
}
