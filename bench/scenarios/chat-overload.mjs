// chat-overload: the chat cell offered several times what a broker can deliver, with a
// low-rate probe conversation alongside. What it shows: whether the broker's memory stays
// bounded (RSS sampled every second), whether publishers are slowed (messages never
// acknowledged while the flood runs) instead of a backlog growing, that nothing
// acknowledged is lost, and the probe conversation's latency.
import { chat } from './chat.mjs'
import { fix, sample, sleep } from './sample.mjs'

/** @type {import('./types.mjs').Scenario} */
export const chatOverload = {
  name: 'chat-overload',
  title: 'chat overload',
  describe: (p) => `the chat cell at ${p.rate} msg/s offered (${p.clients} clients, ${p.partners} partners, ${p.seconds} s) with a probe conversation of 2 other clients at ${p.probeRate} msg/s; RSS sampled every second`,
  headline: [
    { key: 'rssMaxKiB', label: 'max RSS KiB', better: 'lower' },
    { key: 'probeP99', label: 'probe p99 ms', better: 'lower' },
    { key: 'throughput', label: 'delivered msg/s', better: 'higher' }
  ],
  brokerOptions: async (brokerName, params, ctx) => await chat.brokerOptions?.(brokerName, params, ctx) ?? {},
  async run ({ broker, load, params, run, ctx }) {
    const hail = broker.name.startsWith('hail')
    if (broker.name.startsWith('ejabberd')) throw new Error('chat-overload speaks MQTT and Hail only')
    const creds = broker.name === 'hail' ? ctx.cache[`chat-seed-${params.clients}`].creds : broker.name === 'hail-redis' ? ctx.cache.redisCreds : undefined
    const connected = await load.call('chat', 'connect', { port: broker.port, clients: params.clients, partners: params.partners, mode: hail ? 'hail' : 'mqtt', creds, run })
    await load.call('chat', 'warmup', { probe: true })
    await sleep(1000)
    const a = sample(broker)
    let rssMax = a.rssKiB
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        await sleep(1000)
        rssMax = Math.max(rssMax, sample(broker).rssKiB)
      }
    })()
    let r
    try {
      r = await load.call('chat', 'runWithProbe', { rate: params.rate, seconds: params.seconds, graceMs: params.graceSeconds * 1000, probeRate: params.probeRate })
    } finally {
      sampling = false
      await sampler
    }
    const b = sample(broker)
    await load.call('chat', 'close')
    return {
      throughput: fix(r.unique / (r.doneMs / 1000), 0),
      offered: fix(r.sent / (r.sendMs / 1000), 0),
      p50: r.latency.p50,
      p99: r.latency.p99,
      probeP50: r.probe.latency.p50,
      probeP99: r.probe.latency.p99,
      probeSent: r.probe.sent,
      probeLoss: r.probe.acked - r.probe.unique,
      cpuUsPerMsg: fix((b.cpuUs - a.cpuUs) / Math.max(1, r.unique)),
      rssKiB: b.rssKiB,
      rssMaxKiB: rssMax,
      unacked: r.sent - r.acked,
      // the "loss"/"backlog" columns count sends never acknowledged too; this is what was acknowledged and not (yet) delivered
      ackedNotDelivered: Math.max(0, r.acked - r.unique),
      loss: r.stillArriving ? null : r.loss,
      backlog: r.stillArriving ? r.loss : 0,
      duplicates: r.duplicates + r.probe.duplicates,
      dropped: r.dropped,
      errors: r.errors,
      firstError: r.firstError ?? null,
      connectMs: fix(connected.connectMs, 0),
      drainedMs: r.doneMs - r.sendMs,
      stillArriving: r.stillArriving
    }
  }
}
