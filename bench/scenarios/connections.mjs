// connections: N idle persistent sessions; RSS per connection and connect time.
import { fix, sample, sleep } from './sample.mjs'

/** @type {import('./types.mjs').Scenario} */
export const connections = {
  name: 'connections',
  title: 'idle connections',
  describe: (p) => `${p.count} idle persistent sessions (clean: false, 1 QoS 1 subscription each), ${p.concurrency} connecting at a time`,
  headline: [
    { key: 'kibPerConn', label: 'KiB/conn', better: 'lower' },
    { key: 'connectMs', label: 'connect all, ms', better: 'lower' },
    { key: 'cpuUsPerConn', label: 'CPU-µs/conn', better: 'lower' }
  ],
  async run ({ broker, load, params, run }) {
    // One session first, opened and closed before the baseline: what a broker builds once, on its
    // first connection (mqtt-packet's 6 MB number cache in Hail), is no per-session cost.
    await load.call('idle', 'open', { port: broker.port, count: 1, concurrency: 1, run: `${run}-warm` })
    await load.call('idle', 'close')
    await sleep(1000) // let the broker settle after start
    const a = sample(broker)
    const opened = await load.call('idle', 'open', { port: broker.port, count: params.count, concurrency: params.concurrency, run })
    const b = sample(broker)
    await sleep(params.settleSeconds * 1000)
    const c = sample(broker)
    const still = await load.call('idle', 'check')
    await load.call('idle', 'close')
    if (opened.opened === 0) throw new Error(`no connection opened: ${opened.firstError}`)
    return {
      kibPerConn: fix((c.rssKiB - a.rssKiB) / opened.opened),
      connectMs: fix(opened.totalMs, 0),
      throughput: fix(opened.opened / (opened.totalMs / 1000), 0),
      p50: opened.latency.p50,
      p99: opened.latency.p99,
      p999: opened.latency.p999,
      cpuUsPerConn: fix((b.cpuUs - a.cpuUs) / opened.opened, 1),
      rssKiB: c.rssKiB,
      rssBeforeKiB: a.rssKiB,
      loss: params.count - still.open,
      duplicates: 0,
      failed: opened.failed,
      firstError: opened.firstError ?? null
    }
  }
}
