// fanin-crash: the fan-in flow (QoS 1 publishers → one persistent-session
// subscriber) while the harness kills the broker with SIGKILL and restarts it.
// Publishers reconnect and resend what was not acknowledged; every PUBACKed
// (source, seq) is recorded; at the end the subscriber drains its session and
// every PUBACKed message it never received counts as lost.
import { ReconnectingClient } from './reconnecting-client.mjs'
import { SeenSet, pool, readStamp, sleep, stampPayload } from './recorder.mjs'

/** PUBACKed entries of `acked` that `seen` lacks, with the first few as "source:seq". @param {SeenSet} acked @param {SeenSet} seen */
export function missing (acked, seen) {
  let count = 0
  /** @type {string[]} */
  const first = []
  for (const [source, bits] of acked.bits) {
    const have = seen.bits.get(source)
    for (let byte = 0; byte < bits.length; byte++) {
      const want = bits[byte] & ~(have !== undefined && byte < have.length ? have[byte] : 0)
      if (want === 0) continue
      for (let bit = 0; bit < 8; bit++) {
        if ((want & (1 << bit)) === 0) continue
        count++
        if (first.length < 20) first.push(`${source}:${byte * 8 + bit}`)
      }
    }
  }
  return { count, first }
}

export function createFaninCrash () {
  /** @type {ReconnectingClient[]} */
  let publishers = []
  /** @type {ReconnectingClient | undefined} */
  let subscriber
  let running = false
  let sent = 0
  let startedAt = 0
  const acked = new SeenSet()
  const seen = new SeenSet()
  /** @type {Map<number, number[]>} per publisher: when each seq got its PUBACK (epoch ms), to place a lost message among the kills */
  const ackedAt = new Map()
  const args = { port: 1883, publishers: 50, size: 256, window: 10, topic: 'bench/fanin-crash', run: 'r' }

  return {
    /** @param {Partial<typeof args>} a */
    async setup (a) {
      Object.assign(args, a)
      subscriber = new ReconnectingClient({
        client: { port: args.port, clientId: `fanin-crash-sub-${args.run}`, clean: false },
        // A broker that lost the session (mosquitto after a kill) needs the subscription again, as mqtt.js resubscribes.
        onConnect: async (client, sessionPresent) => {
          if (sessionPresent) return
          const granted = await client.subscribe([args.topic], 1)
          if (granted[0] !== 1) throw new Error(`fanin-crash subscription granted ${granted[0]}`)
        }
      })
      subscriber.on('message', (_topic, payload) => {
        const { source, seq } = readStamp(payload)
        seen.mark(source, seq)
      })
      await subscriber.connect()
      publishers = Array.from({ length: args.publishers }, (_, i) => new ReconnectingClient({ client: { port: args.port, clientId: `fanin-crash-pub-${args.run}-${i}`, clean: true } }))
      await pool(publishers, 25, (p) => p.connect())
      return { connected: publishers.length + 1 }
    },

    start () {
      running = true
      startedAt = Date.now()
      publishers.forEach((client, source) => {
        let seq = 0
        const next = () => {
          if (!running) return
          const mine = seq++
          sent++
          client.publish(args.topic, stampPayload(args.size, source, mine), () => {
            acked.mark(source, mine)
            let times = ackedAt.get(source)
            if (times === undefined) ackedAt.set(source, times = [])
            times[mine] = Date.now()
            next()
          })
        }
        for (let i = 0; i < args.window; i++) next()
      })
      return {}
    },

    progress () {
      return { sent, acked: acked.unique, received: seen.unique }
    },

    /**
     * Stop publishing, wait for the publishes in flight to be acknowledged (resent across the last
     * restart if need be), then for the subscriber to drain its session: until it holds every
     * PUBACKed message or nothing new has arrived for stallMs.
     * @param {{ graceMs?: number, stallMs?: number }} a
     */
    async stop (a) {
      running = false
      const flowMs = Date.now() - startedAt
      const deadline = Date.now() + (a.graceMs ?? 30_000)
      while (publishers.some((p) => p.inflight.size > 0) && Date.now() < deadline) await sleep(50)
      const drainStart = Date.now()
      const sub = /** @type {ReconnectingClient} */ (subscriber)
      const settle = async () => {
        let last = seen.unique
        let lastProgress = Date.now()
        while (missing(acked, seen).count > 0 && Date.now() < deadline && Date.now() - lastProgress < (a.stallMs ?? 5000)) {
          await sleep(100)
          if (seen.unique !== last) { last = seen.unique; lastProgress = Date.now() }
        }
      }
      await settle()
      // Still short: the subscriber leaves and resumes its session (clean false), which sends
      // what the broker holds for it; what is missing after that is lost.
      const missingLive = missing(acked, seen)
      if (missingLive.count > 0) {
        await sub.cycle()
        await settle()
      }
      await sleep(300) // late duplicates
      const lost = missing(acked, seen)
      return {
        sent,
        acked: acked.unique,
        unacked: publishers.reduce((n, p) => n + p.inflight.size, 0),
        received: seen.unique,
        // received but never PUBACKed to its publisher (in flight at a kill): not a loss, not a duplicate
        receivedUnacked: Math.max(0, seen.unique - (acked.unique - lost.count)),
        duplicates: seen.duplicates,
        lost: lost.count,
        firstLost: lost.first.map((k) => { const [source, seq] = k.split(':').map(Number); return `${k}@${ackedAt.get(source)?.[seq]}` }),
        // missing before the subscriber resumed its session once more at the end
        missingLive: missingLive.count,
        firstMissingLive: missingLive.first.map((k) => { const [source, seq] = k.split(':').map(Number); return `${k}@${ackedAt.get(source)?.[seq]}` }),
        flowMs,
        drainMs: Date.now() - drainStart,
        resent: publishers.reduce((n, p) => n + p.resent, 0),
        publisherReconnects: publishers.reduce((n, p) => n + p.reconnects, 0),
        subscriberReconnects: sub.reconnects,
        subscriberSessionsLost: sub.sessionsLost
      }
    },

    async close () {
      await Promise.all([...publishers, subscriber].map((c) => c?.end()))
      return {}
    }
  }
}
