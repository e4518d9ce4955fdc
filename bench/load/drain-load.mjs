// Offline drain: a persistent session subscribes and leaves; a publisher
// queues N QoS 1 messages for it; the session comes back and is timed until
// the last message has arrived.
import { RawClient } from './raw-client.mjs'
import { LatencyRecorder, SeenSet, now, readStamp, sleep, stampPayload } from './recorder.mjs'

export function createDrain () {
  const args = { port: 1883, messages: 100_000, size: 256, window: 200, run: 'r', topic: 'bench/drain' }
  const clientId = () => `drain-dev-${args.run}`
  return {
    /** @param {Partial<typeof args>} a */
    async prepare (a) {
      Object.assign(args, a)
      const device = new RawClient({ port: args.port, clientId: clientId(), clean: false })
      await device.connect()
      const granted = await device.subscribe([args.topic], 1)
      if (granted[0] !== 1) throw new Error(`drain subscription granted ${granted[0]}`)
      await device.end()
      const publisher = new RawClient({ port: args.port, clientId: `drain-pub-${args.run}`, clean: true })
      await publisher.connect()
      const t0 = now()
      let acked = 0
      let seq = 0
      await new Promise((resolve) => {
        const next = () => {
          if (seq >= args.messages) return
          publisher.publish(args.topic, stampPayload(args.size, 0, seq++), 1, () => {
            if (++acked === args.messages) resolve(undefined)
            else next()
          })
        }
        for (let i = 0; i < args.window; i++) next()
      })
      const queueMs = Number(now() - t0) / 1e6
      await publisher.end()
      return { queued: acked, queueMs }
    },

    /** @param {{ timeoutMs?: number }} a */
    async drain (a) {
      const seen = new SeenSet()
      const gaps = new LatencyRecorder()
      const device = new RawClient({ port: args.port, clientId: clientId(), clean: false })
      let last = now()
      const t0 = now()
      let firstMs = null
      const done = new Promise((resolve) => {
        device.on('message', (_topic, payload) => {
          const t = now()
          gaps.add(Number(t - last) / 1000)
          last = t
          firstMs ??= Number(t - t0) / 1e6
          seen.mark(0, readStamp(payload).seq)
          if (seen.unique === args.messages) resolve(undefined)
        })
      })
      const { sessionPresent } = await device.connect()
      const timeout = sleep(a.timeoutMs ?? 180_000).then(() => 'timeout')
      const outcome = await Promise.race([done, timeout])
      const drainMs = Number(now() - t0) / 1e6
      await sleep(300) // late duplicates
      await device.end()
      return { sessionPresent, received: seen.unique, duplicates: seen.duplicates, loss: args.messages - seen.unique, drainMs, firstMs, timedOut: outcome === 'timeout', gaps: gaps.summary() }
    }
  }
}
