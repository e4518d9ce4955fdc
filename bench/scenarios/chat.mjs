// chat: N clients with persistent sessions sending to each other's inboxes at a fixed rate.
// Mosquitto: plain topics. Hail: its IM protocol (direct conversations, durable log).
// ejabberd: XMPP chat messages, archived (MAM), acknowledged by stream management.
import { join } from 'node:path'
import { seedDataDir, seedRedis, seedThroughAdmin, userNames } from '../lib/hail-users.mjs'
import { fix, sample, sleep } from './sample.mjs'

/** @type {import('./types.mjs').Scenario} */
export const chat = {
  name: 'chat',
  title: 'chat',
  describe: (p) => `${p.clients} clients (persistent sessions), each writing to ${p.partners} partners, ${p.rate} msg/s for ${p.seconds} s; Hail through im/send/{conv} (direct conversations); ejabberd through XMPP chat messages with MAM and stream management`,
  headline: [
    { key: 'cpuUsPerMsg', label: 'CPU-µs/msg', better: 'lower' },
    { key: 'p99', label: 'p99 ms', better: 'lower' },
    { key: 'throughput', label: 'delivered msg/s', better: 'higher' }
  ],
  /** The embedded hail starts from a data directory that already holds the users. */
  async brokerOptions (brokerName, params, ctx) {
    // Users must be in Redis before hail starts: added behind a running daemon's back,
    // they can log in but their subscriptions are never answered (seen with hail --redis).
    if (brokerName === 'hail-redis') return { beforeStart: async (url) => { ctx.cache.redisCreds = await seedRedis(url, params.clients) } }
    if (brokerName !== 'hail') return {}
    const key = `chat-seed-${params.clients}`
    if (ctx.cache[key] === undefined) {
      const dir = join(ctx.workDir, key)
      ctx.cache[key] = { seedDir: dir, creds: await seedDataDir(dir, params.clients) }
    }
    return { seedDir: ctx.cache[key].seedDir }
  },
  async run ({ broker, load, params, run, ctx }) {
    const hail = broker.name.startsWith('hail')
    const xmpp = broker.name.startsWith('ejabberd')
    let creds
    let registerMs = null
    if (broker.name === 'hail') creds = ctx.cache[`chat-seed-${params.clients}`].creds
    else if (broker.name === 'hail-redis') creds = ctx.cache.redisCreds
    else if (hail) creds = await seedThroughAdmin(join(broker.dir, 'data'), params.clients)
    else if (xmpp) {
      creds = userNames(params.clients).map((user) => ({ user, password: `pw-${user}` }))
      registerMs = (await /** @type {import('../lib/ejabberd.mjs').EjabberdBroker} */ (broker).registerUsers(creds)).ms
    }
    const mode = hail ? 'hail' : xmpp ? 'xmpp' : 'mqtt'
    const domain = xmpp ? /** @type {import('../lib/ejabberd.mjs').EjabberdBroker} */ (broker).domain : undefined
    const connected = await load.call('chat', 'connect', { port: broker.port, clients: params.clients, partners: params.partners, mode, creds, domain, run })
    await load.call('chat', 'warmup')
    await sleep(1000)
    const a = sample(broker)
    const r = await load.call('chat', 'run', { rate: params.rate, seconds: params.seconds, graceMs: params.graceSeconds * 1000 })
    const b = sample(broker)
    await load.call('chat', 'close')
    // the group cell of this run sets its CPU per copy beside it
    ctx.cache[`chat-cpu-${broker.name}`] = fix((b.cpuUs - a.cpuUs) / Math.max(1, r.unique))
    return {
      throughput: fix(r.unique / (r.doneMs / 1000), 0),
      offered: fix(r.sent / (r.sendMs / 1000), 0),
      p50: r.latency.p50,
      p99: r.latency.p99,
      p999: r.latency.p999,
      cpuUsPerMsg: fix((b.cpuUs - a.cpuUs) / Math.max(1, r.unique)),
      rssKiB: b.rssKiB,
      // Still arriving when the harness stopped waiting: a backlog, not a proven loss.
      // Sent but never acknowledged (PUBACK, or XEP-0198 <a h>) by the end of the wait.
      unacked: r.sent - r.acked,
      loss: r.stillArriving ? null : r.loss,
      backlog: r.stillArriving ? r.loss : 0,
      duplicates: r.duplicates,
      // Connections the broker closed during the cell, and what it said about it.
      dropped: r.dropped,
      brokerLogTail: r.dropped > 0 ? broker.log().slice(-1500) : null,
      errors: r.errors,
      firstError: r.firstError ?? null,
      connectMs: fix(connected.connectMs, 0),
      registerMs,
      drainedMs: r.doneMs - r.sendMs,
      stillArriving: r.stillArriving
    }
  }
}
