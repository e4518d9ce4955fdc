/**
 * A worker thread of media/media-workers.ts: one MediaServer whose rooms
 * the main thread placed here. Their werift peers, UDP sockets and every
 * forwarded packet live in this thread; the main thread sees plain
 * messages (media/worker-messages.ts). Logs go to the main thread's logger
 * (one JSON line a message), which adds the worker's number.
 */
import { parentPort, workerData } from 'node:worker_threads'
import pino from 'pino'
import { MediaError } from './errors.js'
import { MediaServer } from './media-server.js'
import type { Peer } from './peer.js'
import type { Room } from './room.js'
import type { FromWorker, ToWorker, WireError, WorkerSetup } from './worker-messages.js'

if (parentPort === null) throw new Error('media/room-worker.ts runs as a worker thread of MediaWorkers')
const port = parentPort
const setup = workerData as WorkerSetup
const post = (m: FromWorker): void => port.postMessage(m)

const logger = pino({ level: setup.logLevel, base: undefined, timestamp: false }, {
  write: (line: string) => post({ ev: 'log', line })
})
const server = new MediaServer({
  portRange: setup.portRange,
  listenAddress: setup.listenAddress,
  announcedAddresses: setup.announcedAddresses,
  statsIntervalMs: setup.statsIntervalMs,
  maxVideoBitrateKbps: setup.maxVideoBitrateKbps,
  logger
})
const rooms = new Map<number, Room>()
const peers = new Map<number, Peer>()

function wire (err: unknown): WireError {
  if (err instanceof MediaError) return { code: err.code, message: err.message }
  return { code: 'HAIL_ERR_MEDIA', message: (err as Error)?.message ?? String(err) }
}

function answer (req: number, work: () => unknown): void {
  Promise.resolve().then(work).then(
    (value) => post({ ev: 'reply', req, value }),
    (err: unknown) => post({ ev: 'reply', req, error: wire(err) })
  )
}

function closed (what: string): MediaError {
  return new MediaError('HAIL_ERR_MEDIA_STATE', `${what} is closed`)
}

function handle (m: ToWorker): void {
  switch (m.op) {
    case 'createRoom': {
      const room = server.createRoom(m.id)
      rooms.set(m.room, room)
      room.on('stats', (stats) => post({ ev: 'stats', room: m.room, stats }))
      room.once('close', () => { rooms.delete(m.room); post({ ev: 'roomClose', room: m.room }) })
      return
    }
    case 'addPeer': {
      const room = rooms.get(m.room)
      try {
        if (room === undefined) throw closed(`the room of peer ${m.id}`)
        const peer = room.addPeer(m.id)
        peers.set(m.peer, peer)
        peer.on('signal', (signal) => post({ ev: 'signal', peer: m.peer, signal }))
        peer.on('state', (state) => post({ ev: 'state', peer: m.peer, state }))
        peer.once('close', () => { peers.delete(m.peer); post({ ev: 'peerClose', peer: m.peer }) })
      } catch (err) {
        logger.error({ err, peer: m.id }, 'adding a peer failed')
        post({ ev: 'peerClose', peer: m.peer })
      }
      return
    }
    case 'signal':
      answer(m.req, async () => {
        const peer = peers.get(m.peer)
        if (peer === undefined) throw new MediaError('HAIL_ERR_SIGNAL_STATE', 'peer is closed')
        await peer.signal(m.signal)
      })
      return
    case 'closePeer':
      answer(m.req, async () => { await peers.get(m.peer)?.close() })
      return
    case 'closeRoom':
      answer(m.req, async () => { await rooms.get(m.room)?.close() })
      return
    case 'stats':
      answer(m.req, () => {
        const room = rooms.get(m.room)
        if (room === undefined) throw closed('room')
        return room.stats()
      })
      return
    case 'close':
      answer(m.req, async () => { await server.close() })
  }
}

port.on('message', (m: ToWorker) => {
  try {
    handle(m)
  } catch (err) {
    // a bad request from the main thread is its bug, not a reason to drop every call here
    logger.error({ err, op: m.op }, 'media worker request failed')
    if ('req' in m) post({ ev: 'reply', req: m.req, error: wire(err) })
  }
})
