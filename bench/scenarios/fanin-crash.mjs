// fanin-crash: the fan-in flow while the broker is killed with SIGKILL `kills`
// times at random moments and restarted on the same data directory (issue 13:
// "kill -9 ten times during the fan-in cell's flow; 0 PUBACKed messages lost").
// hail-redis: the hail node is killed, its redis-server (appendfsync always) stays up.
import { fix, sleep } from './sample.mjs'
import { killDuringFlow, restartFigures } from './kills.mjs'

/** @type {import('./types.mjs').Scenario} */
export const faninCrash = {
  name: 'fanin-crash',
  title: 'fan-in under kill -9',
  describe: (p) => `the fan-in flow (${p.publishers} QoS 1 publishers, window ${p.window}, ${p.size} B → 1 subscriber with a persistent session) while the broker is killed with SIGKILL ${p.kills} times, ${p.minGapSeconds}-${p.maxGapSeconds} s after the flow resumed, and restarted on the same data directory; publishers reconnect and resend what was not acknowledged; lost = PUBACKed and never received`,
  headline: [
    { key: 'lost', label: 'lost', better: 'lower', ratio: false },
    { key: 'acked', label: 'PUBACKed', better: 'higher', ratio: false },
    { key: 'connackMsMedian', label: 'kill → CONNACK ms (median)', better: 'lower' },
    { key: 'connackMsMax', label: 'kill → CONNACK ms (max)', better: 'lower' }
  ],
  // one repetition is ten kills already; three would add ~20 min to a full run (chat at 5,000 msg/s: ~6 min each)
  maxReps: 1,
  notApplicable: (broker) => broker.startsWith('ejabberd') || broker === 'mosquitto-mem' ? `n/a: ${broker} has nothing to recover after a kill` : null,
  async run ({ broker, load, params, run }) {
    await load.call('fanin-crash', 'setup', { port: broker.port, publishers: params.publishers, size: params.size, window: params.window, run })
    await load.call('fanin-crash', 'start')
    const restarts = await killDuringFlow({ broker, load, scenario: 'fanin-crash', kills: params.kills, minGapMs: params.minGapSeconds * 1000, maxGapMs: params.maxGapSeconds * 1000, minAcks: params.publishers })
    await sleep(params.tailSeconds * 1000)
    const end = await load.call('fanin-crash', 'stop', { graceMs: params.graceSeconds * 1000, stallMs: params.stallSeconds * 1000 })
    await load.call('fanin-crash', 'close')
    return {
      ...restartFigures(restarts),
      acked: end.acked,
      received: end.received,
      lost: end.lost,
      loss: end.lost,
      duplicates: end.duplicates,
      unacked: end.unacked,
      receivedUnacked: end.receivedUnacked,
      resent: end.resent,
      ackedPerSecond: fix(end.acked / (end.flowMs / 1000), 0),
      subscriberSessionsLost: end.subscriberSessionsLost,
      subscriberReconnects: end.subscriberReconnects,
      publisherReconnects: end.publisherReconnects,
      firstLost: end.firstLost.join(' '),
      missingLive: end.missingLive,
      firstMissingLive: end.firstMissingLive.join(' '),
      drainMs: end.drainMs,
      restarts
    }
  }
}
