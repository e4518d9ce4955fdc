// A frozen subscriber among readers: N QoS 1 subscribers on one topic, one
// publisher at a fixed rate, and (from `freeze` on) one more subscriber that
// subscribes and then never reads its socket again. The readers' deliveries
// are counted per measured window and per second, so a stall shows even when
// a burst after it restores the window's average.
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
  /** @type {{ frozenAt: bigint, cutAt: bigint | null }} */
  const freeze = { frozenAt: 0n, cutAt: null }
  const args = { port: 1883, subscribers: 200, rate: 20, size: 8192, topic: 'bench/frozen', run: 'r' }

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
      frozen = new RawClient({ port: args.port, clientId: `frozen-f-${args.run}`, clean: true })
      await frozen.connect()
      const granted = await frozen.subscribe([args.topic], 1)
      if (granted[0] !== 1) throw new Error(`frozen subscription granted ${granted[0]}`)
      frozen.socket?.pause()
      freeze.frozenAt = now()
      frozen.on('close', () => { freeze.cutAt ??= now() })
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
      frozen?.destroy()
      await Promise.all([...readers, publisher].map((c) => c?.end()))
      return {}
    }
  }
}
