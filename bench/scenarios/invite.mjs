// invite → first media: a 1:1 video call through a running hail daemon,
// signaling over MQTT (call.invite, ring, call.accept, im/call/{id}/signal)
// and media through its SFU; timed from the invite's PUBLISH to the callee's
// first packet from the caller.
import { join } from 'node:path'
import { seedDataDir } from '../lib/hail-users.mjs'
import { fix } from './sample.mjs'

/** @type {import('./types.mjs').Scenario} */
export const invite = {
  name: 'invite',
  title: 'call set-up',
  describe: (p) => `${p.calls} 1:1 video calls one after another, hail daemon with its SFU: call.invite PUBLISH → the callee's first media packet (ring, accept, SDP offer/answer and ICE/DTLS included)`,
  headline: [
    { key: 'p50', label: 'invite → media p50 ms', better: 'lower' },
    { key: 'p95', label: 'p95 ms', better: 'lower' }
  ],
  async brokerOptions (brokerName, params, ctx) {
    const key = 'invite-seed'
    if (ctx.cache[key] === undefined) {
      const dir = join(ctx.workDir, key)
      ctx.cache[key] = { seedDir: dir, creds: await seedDataDir(dir, 2) }
    }
    const base = 47000 + Math.floor(Math.random() * 10) * 100
    // UDP ports cannot be reserved ahead; this range is apart from the 40000-45999 other tests use.
    return {
      seedDir: ctx.cache[key].seedDir,
      extraArgs: ['--media-port-min', String(base), '--media-port-max', String(base + 99), '--media-listen', '127.0.0.1', '--media-announce', '127.0.0.1',
        // One caller places every call back to back: lift the per-caller invite limit (burst 5) for the measurement.
        '--invites-per-minute', '100000']
    }
  },
  async run ({ broker, load, params, ctx }) {
    await load.call('invite', 'setup', { port: broker.port, creds: ctx.cache['invite-seed'].creds })
    const r = await load.call('invite', 'run', { calls: params.calls }, 60_000 * params.calls)
    await load.call('invite', 'close')
    if (r.ok === 0) throw new Error(`no call reached media: ${r.failures[0] ?? 'unknown'}`)
    return {
      p50: r.times.p50,
      p95: fix(r.p95, 1),
      p99: r.times.p99,
      p999: r.times.p999,
      max: r.times.max,
      throughput: null,
      rssKiB: null,
      loss: r.failed,
      duplicates: 0,
      firstError: r.failures[0] ?? null
    }
  }
}
