// fan-in: P publishers → 1 subscriber, QoS 1, saturating.
import { fix, sample, sleep } from './sample.mjs'

/** @type {import('./types.mjs').Scenario} */
export const fanin = {
  name: 'fanin',
  title: 'fan-in',
  describe: (p) => `${p.publishers} publishers → 1 subscriber, QoS 1, ${p.size} B, window ${p.window} per publisher, ${p.seconds} s measured`,
  headline: [
    { key: 'throughput', label: 'msg/s', better: 'higher' },
    { key: 'cpuUsPerMsg', label: 'CPU-µs/msg', better: 'lower' },
    { key: 'p99', label: 'p99 ms', better: 'lower' }
  ],
  async run ({ broker, load, params, run }) {
    await load.call('fanin', 'setup', { port: broker.port, publishers: params.publishers, size: params.size, window: params.window, run })
    await load.call('fanin', 'start')
    await sleep(params.warmupSeconds * 1000)
    const a = sample(broker)
    await load.call('fanin', 'mark')
    await sleep(params.seconds * 1000)
    const b = sample(broker)
    const window = await load.call('fanin', 'markEnd')
    const end = await load.call('fanin', 'stop', { graceMs: 15_000 })
    await load.call('fanin', 'close')
    const seconds = (b.at - a.at) / 1000
    return {
      throughput: fix(window.received / seconds, 0),
      p50: window.latency.p50,
      p99: window.latency.p99,
      p999: window.latency.p999,
      cpuUsPerMsg: fix((b.cpuUs - a.cpuUs) / Math.max(1, window.received)),
      brokerCpuPct: fix((b.cpuUs - a.cpuUs) / (seconds * 1e4), 0),
      rssKiB: b.rssKiB,
      loss: end.loss,
      duplicates: end.duplicates,
      messages: end.acked
    }
  }
}
