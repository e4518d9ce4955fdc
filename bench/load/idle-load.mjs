// Connections: many idle persistent sessions (clean: false, one QoS 1
// subscription each), opened a few at a time, kept open until told.
import { RawClient } from './raw-client.mjs'
import { LatencyRecorder, now, pool } from './recorder.mjs'

export function createIdle () {
  /** @type {RawClient[]} */
  let clients = []
  return {
    /** @param {{ port: number, count: number, concurrency?: number, run: string }} a */
    async open (a) {
      const latency = new LatencyRecorder()
      clients = Array.from({ length: a.count }, (_, i) => new RawClient({ port: a.port, clientId: `idle-${a.run}-${i}`, clean: false, connectTimeoutMs: 120_000 }))
      let failed = 0
      /** @type {string | undefined} */
      let firstError
      const start = now()
      await pool(clients, a.concurrency ?? 100, async (client, i) => {
        const t0 = now()
        try {
          await client.connect()
          await client.subscribe([`bench/idle/${a.run}/${i}`], 1)
          latency.add(Number(now() - t0) / 1000)
        } catch (err) {
          failed++
          firstError ??= String(err)
        }
      })
      const totalMs = Number(now() - start) / 1e6
      return { opened: a.count - failed, failed, firstError, totalMs, latency: latency.summary() }
    },

    /** How many are still open (a broker may drop idle ones). */
    check () {
      return { open: clients.filter((c) => !c.closed).length }
    },

    async close () {
      await pool(clients, 500, (c) => { c.destroy(); return Promise.resolve() })
      clients = []
      return {}
    }
  }
}
