// Fan-in: many QoS 1 publishers, each keeping a window of unacknowledged
// publishes in flight, to one QoS 1 subscriber. Saturating: every PUBACK
// releases the next publish at once.
import { RawClient } from './raw-client.mjs'
import { LatencyRecorder, SeenSet, now, pool, readStamp, sleep, stampPayload } from './recorder.mjs'

export function createFanin () {
  /** @type {RawClient[]} */
  let publishers = []
  /** @type {RawClient | undefined} */
  let subscriber
  let running = false
  let measuring = false
  let windowCount = 0
  let acked = 0
  let sent = 0
  const seen = new SeenSet()
  let latency = new LatencyRecorder()
  const args = { port: 1883, publishers: 50, size: 256, window: 10, topic: 'bench/fanin', run: 'r' }

  return {
    /** @param {Partial<typeof args>} a */
    async setup (a) {
      Object.assign(args, a)
      subscriber = new RawClient({ port: args.port, clientId: `fanin-sub-${args.run}`, clean: true })
      await subscriber.connect()
      subscriber.on('message', (_topic, payload) => {
        const { sent: at, source, seq } = readStamp(payload)
        if (!seen.mark(source, seq)) return
        if (measuring) {
          windowCount++
          latency.add(Number(now() - at) / 1000)
        }
      })
      const granted = await subscriber.subscribe([args.topic], 1)
      if (granted[0] !== 1) throw new Error(`fan-in subscription granted ${granted[0]}`)
      publishers = Array.from({ length: args.publishers }, (_, i) => new RawClient({ port: args.port, clientId: `fanin-pub-${args.run}-${i}`, clean: true }))
      await pool(publishers, 25, (p) => p.connect().then(() => {}))
      return { connected: publishers.length + 1 }
    },

    start () {
      running = true
      publishers.forEach((client, source) => {
        let seq = 0
        const next = () => {
          if (!running || client.closed) return
          sent++
          client.publish(args.topic, stampPayload(args.size, source, seq++), 1, () => { acked++; next() })
        }
        for (let i = 0; i < args.window; i++) next()
      })
      return {}
    },

    mark () {
      windowCount = 0
      latency = new LatencyRecorder()
      measuring = true
      return { at: Number(now()) }
    },

    markEnd () {
      measuring = false
      return { received: windowCount, latency: latency.summary() }
    },

    /** Stop publishing and wait (up to graceMs) for every acknowledged publish to arrive. @param {{ graceMs?: number }} a */
    async stop (a) {
      running = false
      const deadline = Date.now() + (a.graceMs ?? 10_000)
      await sleep(200) // PUBACKs of the last window
      while (seen.unique < acked && Date.now() < deadline) await sleep(50)
      return { sent, acked, unique: seen.unique, duplicates: seen.duplicates, loss: Math.max(0, acked - seen.unique) }
    },

    async close () {
      await Promise.all([...publishers, subscriber].map((c) => c?.end()))
      return {}
    }
  }
}
