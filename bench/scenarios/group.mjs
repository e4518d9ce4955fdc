// group: groups of M members, one device each with a persistent session reading its inbox,
// members writing in turn at an aggregate rate; every other member gets a copy.
// Mosquitto: the same fan-out on a plain topic per group with M subscribers.
// Hail: group conversations (durable log, one write per message, a copy per member).
import { join } from 'node:path'
import { seedDataDir, seedRedis, seedThroughAdmin } from '../lib/hail-users.mjs'
import { fix, sample, sleep } from './sample.mjs'

/** @type {import('./types.mjs').Scenario} */
export const group = {
  name: 'group',
  title: 'group',
  describe: (p) => `${p.groups} group(s) of ${p.members} members, one device each (persistent sessions), ${p.rate} msg/s in all for ${p.seconds} s, so ${p.rate * (p.members - 1)} copies/s; Hail through im/send/{conv} (group conversations), mosquitto on a plain topic per group; CPU per delivered copy, and beside it (directCpuUsPerMsg) the chat cell's CPU per direct message from the same run when it ran first`,
  headline: [
    { key: 'cpuUsPerMsg', label: 'CPU-µs/copy', better: 'lower' },
    { key: 'p99', label: 'p99 ms', better: 'lower' },
    { key: 'throughput', label: 'delivered copies/s', better: 'higher' }
  ],
  async brokerOptions (brokerName, params, ctx) {
    const clients = params.groups * params.members
    if (brokerName === 'hail-redis') return { beforeStart: async (url) => { ctx.cache.groupRedisCreds = await seedRedis(url, clients) } }
    if (brokerName !== 'hail') return {}
    // the same users as the chat cell's when the counts match (bench{i})
    const key = `chat-seed-${clients}`
    if (ctx.cache[key] === undefined) {
      const dir = join(ctx.workDir, key)
      ctx.cache[key] = { seedDir: dir, creds: await seedDataDir(dir, clients) }
    }
    return { seedDir: ctx.cache[key].seedDir }
  },
  async run ({ broker, load, params, run, ctx }) {
    if (broker.name.startsWith('ejabberd')) throw new Error('group speaks MQTT and Hail only')
    const hail = broker.name.startsWith('hail')
    const clients = params.groups * params.members
    let creds
    if (broker.name === 'hail') creds = ctx.cache[`chat-seed-${clients}`].creds
    else if (broker.name === 'hail-redis') creds = ctx.cache.groupRedisCreds
    else if (hail) creds = await seedThroughAdmin(join(broker.dir, 'data'), clients)
    const connected = await load.call('group', 'connect', { port: broker.port, groups: params.groups, members: params.members, mode: hail ? 'hail' : 'mqtt', creds, run })
    await load.call('group', 'warmup')
    await sleep(1000)
    const a = sample(broker)
    const r = await load.call('group', 'run', { rate: params.rate, seconds: params.seconds, graceMs: params.graceSeconds * 1000 })
    const b = sample(broker)
    await load.call('group', 'close')
    const cpuUsPerMsg = fix((b.cpuUs - a.cpuUs) / Math.max(1, r.copies))
    // the chat cell of this run, same broker (chat.mjs leaves it in ctx.cache)
    const direct = ctx.cache[`chat-cpu-${broker.name}`]
    return {
      throughput: fix(r.copies / (r.doneMs / 1000), 0),
      offered: fix(r.sent / (r.sendMs / 1000), 1),
      copiesExpected: r.expected,
      p50: r.latency.p50,
      p99: r.latency.p99,
      p999: r.latency.p999,
      cpuUsPerMsg,
      directCpuUsPerMsg: direct ?? null,
      copyOverDirect: direct === undefined ? null : fix(cpuUsPerMsg / direct),
      rssKiB: b.rssKiB,
      unacked: r.sent - r.acked,
      loss: r.stillArriving ? null : r.loss,
      backlog: r.stillArriving ? r.loss : 0,
      duplicates: r.duplicates,
      dropped: r.dropped,
      brokerLogTail: r.dropped > 0 ? broker.log().slice(-1500) : null,
      errors: r.errors,
      firstError: r.firstError ?? null,
      connectMs: fix(connected.connectMs, 0),
      drainedMs: r.doneMs - r.sendMs,
      stillArriving: r.stillArriving
    }
  }
}
