// The SFU under test in its own process (pinned like a broker): Hail's
// MediaServer from dist/media (rooms in this thread), or with `--workers N`
// (N > 1) its MediaWorkers (rooms spread over N worker threads, each room on
// one), driven over loopback TCP with newline JSON:
//   in:  {op:'add', room, peer} | {op:'signal', room, peer, signal}
//   out: {op:'signal', room, peer, signal} | {op:'error', room, peer, message}
// It tells its parent the port over IPC: {port}.
import { createServer } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { startProbe } from './sfu-probe.mjs'

startProbe('sfu-host')
const ROOT = new URL('../../', import.meta.url).pathname
const { MediaServer, MediaWorkers } = await import(pathToFileURL(join(ROOT, 'dist/media/index.js')).href)
const base = Number(process.env.BENCH_SFU_PORT_BASE ?? 46000)
const at = process.argv.indexOf('--workers')
const workers = at >= 0 ? Number(process.argv[at + 1]) : 1
const options = { portRange: { min: base, max: base + 199 }, listenAddress: '127.0.0.1', announcedAddresses: ['127.0.0.1'], statsIntervalMs: 0 }
const media = workers > 1 ? new MediaWorkers({ ...options, workers }) : new MediaServer(options)

const server = createServer((socket) => {
  socket.setNoDelay(true)
  let buffered = ''
  /** @param {object} msg */
  const send = (msg) => socket.write(JSON.stringify(msg) + '\n')
  socket.setEncoding('utf8')
  socket.on('data', (chunk) => {
    buffered += chunk
    let nl
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buffered.slice(0, nl))
      buffered = buffered.slice(nl + 1)
      try {
        const room = media.room(msg.room) ?? media.createRoom(msg.room)
        if (msg.op === 'add') {
          const peer = room.addPeer(msg.peer)
          peer.on('signal', (/** @type {any} */ signal) => send({ op: 'signal', room: msg.room, peer: msg.peer, signal }))
        } else if (msg.op === 'signal') {
          room.peer(msg.peer)?.signal(msg.signal).catch((/** @type {Error} */ err) => send({ op: 'error', room: msg.room, peer: msg.peer, message: err.message }))
        }
      } catch (err) {
        send({ op: 'error', room: msg.room, peer: msg.peer, message: /** @type {Error} */ (err).message })
      }
    }
  })
  socket.on('error', () => {})
})
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 })
})
const stop = async () => {
  server.close()
  await media.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('disconnect', stop)
