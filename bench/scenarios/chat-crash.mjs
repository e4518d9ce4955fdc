// chat-crash: the chat cell's flow on Hail's IM protocol while the broker is
// killed with SIGKILL `kills` times and restarted on the same data directory
// (issue 12: "kill -9 during the 5,000 msg/s chat cell's flow (ten times), then
// every device syncs every acknowledged message, gapless, once").
import { chat } from './chat.mjs'
import { fix, sleep } from './sample.mjs'
import { killDuringFlow, restartFigures } from './kills.mjs'

/** @type {import('./types.mjs').Scenario} */
export const chatCrash = {
  name: 'chat-crash',
  title: 'chat under kill -9',
  describe: (p) => `the chat flow (${p.clients} clients with persistent sessions, ${p.partners} partners each, ${p.rate} msg/s offered through im/send) while the broker is killed with SIGKILL ${p.kills} times, ${p.minGapSeconds}-${p.maxGapSeconds} s after the flow resumed, and restarted on the same data directory; devices reconnect and resend unacknowledged sends (same cid), then catch up with sync.all from their cursors; every conversation's log is read from seq 1; lost = PUBACKed and missing at its recipient or from the log`,
  headline: [
    { key: 'lost', label: 'lost', better: 'lower', ratio: false },
    { key: 'acked', label: 'PUBACKed', better: 'higher', ratio: false },
    { key: 'connackMsMedian', label: 'kill → CONNACK ms (median)', better: 'lower' },
    { key: 'connackMsMax', label: 'kill → CONNACK ms (max)', better: 'lower' }
  ],
  // one repetition is ten kills already; three would add ~20 min to a full run (chat at 5,000 msg/s: ~6 min each)
  maxReps: 1,
  notApplicable: (broker) => broker === 'hail' || broker === 'hail-redis' ? null : 'n/a: Hail\'s IM protocol only',
  brokerOptions: chat.brokerOptions,
  async run ({ broker, load, params, run, ctx }) {
    const creds = broker.name === 'hail' ? ctx.cache[`chat-seed-${params.clients}`].creds : ctx.cache.redisCreds
    await load.call('chat-crash', 'connect', { port: broker.port, clients: params.clients, partners: params.partners, creds, run })
    await load.call('chat-crash', 'warmup')
    await load.call('chat-crash', 'start', { rate: params.rate })
    const restarts = await killDuringFlow({ broker, load, scenario: 'chat-crash', kills: params.kills, minGapMs: params.minGapSeconds * 1000, maxGapMs: params.maxGapSeconds * 1000, minAcks: Math.max(1, Math.round(params.rate / 20)) })
    await sleep(params.tailSeconds * 1000)
    const end = await load.call('chat-crash', 'stop', { graceMs: params.graceSeconds * 1000, stallMs: params.stallSeconds * 1000 })
    await load.call('chat-crash', 'close')
    const lost = Math.max(end.lostAtRecipient, end.lostFromLog)
    return {
      ...restartFigures(restarts),
      acked: end.acked,
      received: end.shown,
      lost,
      loss: lost,
      lostAtRecipient: end.lostAtRecipient,
      lostFromLog: end.lostFromLog,
      // stored twice in a log (a resent cid kept twice) or a log not gapless: shown to the app
      duplicates: end.storedTwice,
      notGapless: end.notGapless,
      redelivered: end.redelivered,
      unacked: end.unacked,
      shownLive: end.shownLive,
      missingAfterLive: end.missingAfterLive,
      resent: end.resent,
      ackedPerSecond: fix(end.acked / (end.flowMs / 1000), 0),
      offered: params.rate,
      sessionsLost: end.sessionsLost,
      reconnects: end.reconnects,
      errors: end.errors,
      firstError: end.firstError,
      firstLost: end.firstLost.join(' '),
      logProblems: end.logProblems.join('; '),
      syncMs: end.syncMs,
      restarts
    }
  }
}
