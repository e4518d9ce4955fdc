// offline drain: N QoS 1 messages queued for one offline persistent session, drained on reconnect.
import { fix, sample, sleep } from './sample.mjs'

/** @type {import('./types.mjs').Scenario} */
export const drain = {
  name: 'drain',
  title: 'offline drain',
  describe: (p) => `${p.messages} QoS 1 messages of ${p.size} B queued for one offline persistent session, then drained`,
  headline: [
    { key: 'drainMs', label: 'drain ms', better: 'lower' },
    { key: 'cpuUsPerMsg', label: 'CPU-µs/msg (drain)', better: 'lower' },
    { key: 'queueMs', label: 'queue ms', better: 'lower' }
  ],
  async run ({ broker, load, params, run }) {
    const q0 = sample(broker)
    const queued = await load.call('drain', 'prepare', { port: broker.port, messages: params.messages, size: params.size, run })
    const q1 = sample(broker)
    await sleep(1000)
    const a = sample(broker)
    const d = await load.call('drain', 'drain', { timeoutMs: params.timeoutSeconds * 1000 })
    const b = sample(broker)
    return {
      drainMs: fix(d.drainMs, 0),
      throughput: fix(d.received / (d.drainMs / 1000), 0),
      queueMs: fix(queued.queueMs, 0),
      firstMs: fix(d.firstMs, 1),
      // Latency has no meaning here (the messages waited on purpose); the gaps between deliveries stand in.
      p50: null,
      p99: null,
      p999: null,
      gapP99Ms: d.gaps.p99,
      gapMaxMs: d.gaps.max,
      cpuUsPerMsg: fix((b.cpuUs - a.cpuUs) / Math.max(1, d.received)),
      queueCpuUsPerMsg: fix((q1.cpuUs - q0.cpuUs) / Math.max(1, queued.queued)),
      rssKiB: a.rssKiB,
      loss: d.loss,
      duplicates: d.duplicates,
      sessionPresent: d.sessionPresent,
      timedOut: d.timedOut
    }
  }
}
