// A frozen subscriber among readers: N QoS 1 subscribers on one topic, one
// publisher at a fixed rate, and (from `freeze` on) one more subscriber that
// subscribes and then never reads its socket again. The readers' deliveries
// are counted per measured window and per second, so a stall shows even when
// a burst after it restores the window's average.
import { readFileSync } from 'node:fs'
import { RawClient } from './raw-client.mjs'
import { LatencyRecorder, SeenSet, now, pool, readStamp, sleep, stampPayload } from './recorder.mjs'

export function createFrozen () {
  /** @type {RawClient[]} */
  let readers = []
  /** @type {SeenSet[]} */
  let seen = []
  /** @type {RawClient | undefined} */
  let publisher
  /** @type {RawClient | undefined} */
  let frozen
  /** @type {NodeJS.Timeout | undefined} */
  let timer
  let running = false
  let measuring = false
  let markAt = 0n
  let windowCount = 0
  /** @type {number[]} readers' deliveries per second of the measured window */
  let perSecond = []
  let latency = new LatencyRecorder()
  let sent = 0
  let acked = 0
  let readersClosed = 0
  let stopping = false
  /** @type {NodeJS.Timeout | undefined} */
  let watch
  /** @type {{ frozenAt: bigint, cutAt: bigint | null }} */
  const freeze = { frozenAt: 0n, cutAt: null }
  const args = { port: 1883, subscribers: 200, rate: 20, size: 8192, topic: 'bench/frozen', run: 'r', frozenKeepalive: 0 }

  return {
    /** @param {Partial<typeof args>} a */
    async setup (a) {
      Object.assign(args, a)
      readers = Array.from({ length: args.subscribers }, (_, i) => new RawClient({ port: args.port, clientId: `frozen-r-${args.run}-${i}`, clean: true }))
      seen = readers.map(() => new SeenSet())
      await pool(readers, 25, async (client, i) => {
        await client.connect()
        client.on('close', () => { if (!stopping) readersClosed++ })
        client.on('message', (_topic, payload) => {
          const { sent: at, source, seq } = readStamp(payload)
          if (!seen[i].mark(source, seq)) return
          if (!measuring) return
          const t = now()
          windowCount++
          latency.add(Number(t - at) / 1000)
          const second = Number((t - markAt) / 1_000_000_000n)
          perSecond[second] = (perSecond[second] ?? 0) + 1
        })
        const granted = await client.subscribe([args.topic], 1)
        if (granted[0] !== 1) throw new Error(`frozen-cell subscription granted ${granted[0]}`)
      })
      publisher = new RawClient({ port: args.port, clientId: `frozen-pub-${args.run}`, clean: true })
      await publisher.connect()
      return { connected: readers.length + 1 }
    },

    /** Publish at `rate` msg/s, QoS 1, paced by the clock (a late timer catches up). */
    start () {
      running = true
      const t0 = performance.now()
      const tick = () => {
        if (!running || publisher === undefined || publisher.closed) return
        const due = Math.floor((performance.now() - t0) * args.rate / 1000)
        while (sent < due) publisher.publish(args.topic, stampPayload(args.size, 0, sent++), 1, () => { acked++ })
      }
      timer = setInterval(tick, Math.max(5, Math.min(50, 1000 / args.rate / 2)))
      return {}
    },

    /** Connect the frozen subscriber, subscribe it, then stop reading its socket for good. */
    async freeze () {
      // keepalive 0 by default: the broker's slow-consumer limit cuts it, not a missed PINGREQ
      frozen = new RawClient({ port: args.port, clientId: `frozen-f-${args.run}`, clean: true, keepalive: args.frozenKeepalive })
      await frozen.connect()
      const granted = await frozen.subscribe([args.topic], 1)
      if (granted[0] !== 1) throw new Error(`frozen subscription granted ${granted[0]}`)
      frozen.socket?.pause()
      freeze.frozenAt = now()
      // A socket that is not read never learns that the broker closed it, and the broker's FIN
      // waits behind its unsent data: ask the kernel for the broker's end of the connection.
      const localPort = frozen.socket?.localPort ?? 0
      watch = setInterval(() => {
        if (freeze.cutAt === null && !established(args.port, localPort)) freeze.cutAt = now()
      }, 250)
      return {}
    },

    mark () {
      windowCount = 0
      perSecond = []
      latency = new LatencyRecorder()
      markAt = now()
      measuring = true
      return {}
    },

    markEnd () {
      measuring = false
      const seconds = Number(now() - markAt) / 1e9
      const whole = Math.floor(seconds)
      const buckets = Array.from({ length: whole }, (_, i) => perSecond[i] ?? 0)
      return {
        seconds,
        received: windowCount,
        worstSecond: buckets.length === 0 ? null : Math.min(...buckets),
        perSecond: buckets,
        latency: latency.summary(),
        frozenCutAfterSeconds: freeze.cutAt === null ? null : Number(freeze.cutAt - freeze.frozenAt) / 1e9,
        readersClosed
      }
    },

    /** Stop publishing and wait (up to graceMs) for every acknowledged publish to reach every reader. @param {{ graceMs?: number }} a */
    async stop (a) {
      running = false
      clearInterval(timer)
      const deadline = Date.now() + (a.graceMs ?? 10_000)
      await sleep(200)
      const missing = () => seen.reduce((n, s, i) => n + (readers[i].closed ? 0 : Math.max(0, acked - s.unique)), 0)
      while (missing() > 0 && Date.now() < deadline) await sleep(50)
      return {
        sent,
        acked,
        loss: missing(),
        duplicates: seen.reduce((n, s) => n + s.duplicates, 0),
        readersClosed
      }
    },

    async close () {
      stopping = true
      clearInterval(watch)
      frozen?.destroy()
      await Promise.all([...readers, publisher].map((c) => c?.end()))
      return {}
    }
  }
}

/**
 * Whether the TCP connection localPort → remotePort on this host is still
 * ESTABLISHED in /proc/net/tcp or tcp6 (a close on that end makes it
 * FIN_WAIT1 while unsent data waits, a reset or the end of the close removes
 * it). Linux only, as the bench's CPU pinning is.
 * @param {number} localPort @param {number} remotePort
 */
function established (localPort, remotePort) {
  const local = `:${localPort.toString(16).toUpperCase().padStart(4, '0')}`
  const remote = `:${remotePort.toString(16).toUpperCase().padStart(4, '0')}`
  // a broker listening on :: holds the accepted socket in tcp6, as a v4-mapped address
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try { text = readFileSync(file, 'utf8') } catch { continue }
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/)
      if (f[1]?.endsWith(local) && f[2]?.endsWith(remote)) return f[3] === '01'
    }
  }
  return false
}
