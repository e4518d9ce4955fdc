// frozen: N QoS 1 readers on one topic at a fixed rate, measured first alone,
// then with one more subscriber that never reads its socket. One slow client
// must cost only itself: the readers keep their rate and p99, RSS stays bounded.
import { fix, sample, sleep } from './sample.mjs'

/** @type {import('./types.mjs').Scenario} */
export const frozen = {
  name: 'frozen',
  title: 'one frozen subscriber',
  describe: (p) => `${p.subscribers} QoS 1 subscribers on one topic, 1 publisher at ${p.rate} msg/s of ${p.size} B; ${p.baselineSeconds} s measured without, then ${p.frozenSeconds} s with one more subscriber that never reads its socket`,
  headline: [
    { key: 'keptPct', label: 'readers\' rate kept %', better: 'higher' },
    { key: 'worstSecondPct', label: 'worst second %', better: 'higher' },
    { key: 'p99Without', label: 'p99 ms without', better: 'lower' },
    { key: 'p99', label: 'p99 ms frozen', better: 'lower' },
    { key: 'rssGrowthMiB', label: 'RSS growth MiB', better: 'lower' },
    { key: 'cutAfterSeconds', label: 'frozen cut after s', better: 'lower' }
  ],
  async run ({ broker, load, params, run }) {
    await load.call('frozen', 'setup', { port: broker.port, subscribers: params.subscribers, rate: params.rate, size: params.size, frozenKeepalive: params.frozenKeepalive ?? 0, run })
    await load.call('frozen', 'start')
    await sleep(params.warmupSeconds * 1000)

    // Without the frozen client.
    const a = sample(broker)
    await load.call('frozen', 'mark')
    await sleep(params.baselineSeconds * 1000)
    const without = await load.call('frozen', 'markEnd')
    const b = sample(broker)

    // With it: RSS polled through the window for its peak.
    await load.call('frozen', 'freeze')
    const start = sample(broker)
    await load.call('frozen', 'mark')
    let peakKiB = start.rssKiB
    const until = performance.now() + params.frozenSeconds * 1000
    while (performance.now() < until) {
      await sleep(Math.min(500, Math.max(0, until - performance.now())))
      peakKiB = Math.max(peakKiB, sample(broker).rssKiB)
    }
    const withFrozen = await load.call('frozen', 'markEnd')
    const end = sample(broker)
    peakKiB = Math.max(peakKiB, end.rssKiB)

    const stopped = await load.call('frozen', 'stop', { graceMs: (params.graceSeconds ?? 15) * 1000 })
    await load.call('frozen', 'close')

    const rateWithout = without.received / without.seconds
    const rateWith = withFrozen.received / withFrozen.seconds
    const expectedPerSecond = params.subscribers * params.rate
    return {
      // readers' deliveries per second, all readers together
      throughput: fix(rateWith, 0),
      throughputWithout: fix(rateWithout, 0),
      keptPct: rateWithout > 0 ? fix(100 * rateWith / rateWithout, 1) : null,
      worstSecondPct: withFrozen.worstSecond === null ? null : fix(100 * withFrozen.worstSecond / expectedPerSecond, 1),
      // the readers' deliveries in each whole second of the frozen window, % of the publisher's rate × readers (a stall shows as a run of low seconds)
      secondsPct: withFrozen.perSecond.map((/** @type {number} */ n) => fix(100 * n / expectedPerSecond, 0)).join(' '),
      worstSecondPctWithout: without.worstSecond === null ? null : fix(100 * without.worstSecond / expectedPerSecond, 1),
      p50: withFrozen.latency.p50,
      p99: withFrozen.latency.p99,
      p999: withFrozen.latency.p999,
      p50Without: without.latency.p50,
      p99Without: without.latency.p99,
      p999Without: without.latency.p999,
      rssStartKiB: start.rssKiB,
      rssKiB: end.rssKiB,
      rssPeakKiB: peakKiB,
      rssGrowthMiB: fix((end.rssKiB - start.rssKiB) / 1024, 1),
      cutAfterSeconds: withFrozen.frozenCutAfterSeconds === null ? null : fix(withFrozen.frozenCutAfterSeconds, 1),
      frozenCut: withFrozen.frozenCutAfterSeconds === null ? 0 : 1,
      cpuUsPerMsg: fix((end.cpuUs - start.cpuUs) / Math.max(1, withFrozen.received)),
      cpuUsPerMsgWithout: fix((b.cpuUs - a.cpuUs) / Math.max(1, without.received)),
      loss: stopped.loss,
      duplicates: stopped.duplicates,
      dropped: stopped.readersClosed,
      messages: stopped.acked
    }
  }
}
