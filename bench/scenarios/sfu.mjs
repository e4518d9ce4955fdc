// SFU: forwarded RTP packets/s per core, added latency, join → first media.
// Hail's MediaServer runs alone in a process on the broker's CPU
// (bench/load/sfu-host.mjs); synthetic werift devices run in the load process.
// Cells are named by shape: hail-1x10 = 1 publisher → 10 subscribers.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fix, sample, sleep } from './sample.mjs'

const ROOT = new URL('../../', import.meta.url).pathname

/** @param {string} variant e.g. hail-4x10 */
export function sfuShape (variant) {
  const m = /(\d+)x(\d+)$/.exec(variant)
  if (m === null) throw new Error(`SFU cell ${variant}: want a name like hail-1x10`)
  return { publishers: Number(m[1]), subscribers: Number(m[2]) }
}

/** @type {import('./types.mjs').Scenario} */
export const sfu = {
  name: 'sfu',
  title: 'SFU',
  launchAs: 'hail-sfu',
  describe: (p) => `Hail's MediaServer alone; synthetic werift devices; each publisher sends ${p.pps} RTP packets/s of ${p.size} B for ${p.seconds} s to every subscriber; cells hail-PxS (P publishers → S subscribers)`,
  headline: [
    { key: 'ppsPerCore', label: 'fwd pkt/s per core', better: 'higher' },
    { key: 'p50', label: 'added p50 ms', better: 'lower' },
    { key: 'p99', label: 'added p99 ms', better: 'lower' },
    { key: 'firstMediaMs', label: 'join → first media ms', better: 'lower' }
  ],
  notApplicable () {
    if (!existsSync(join(ROOT, 'media/index.ts'))) return 'n/a: media/index.ts does not exist yet (no MediaServer)'
    if (!existsSync(join(ROOT, 'dist/media/index.js'))) return 'n/a: dist/media/index.js missing: run npm run build'
    return null
  },
  async run ({ broker, load, params, cell }) {
    const shape = sfuShape(cell.broker)
    const joined = await load.call('sfu', 'setup', { port: broker.port, ...shape, size: params.size }, 300_000)
    await load.call('sfu', 'start', { pps: params.pps, size: params.size })
    await sleep(params.warmupSeconds * 1000)
    const a = sample(broker)
    await load.call('sfu', 'mark')
    await sleep(params.seconds * 1000)
    const b = sample(broker)
    const w = await load.call('sfu', 'markEnd')
    await load.call('sfu', 'close')
    const seconds = (b.at - a.at) / 1000
    const cpuUs = b.cpuUs - a.cpuUs
    return {
      ppsPerCore: cpuUs > 0 ? fix(w.received / (cpuUs / 1e6), 0) : null,
      throughput: fix(w.received / seconds, 0),
      cpuUsPerMsg: fix(cpuUs / Math.max(1, w.received)),
      sfuCpuPct: fix(cpuUs / (seconds * 1e4), 0),
      p50: w.latency.p50,
      p99: w.latency.p99,
      p999: w.latency.p999,
      firstMediaMs: fix(joined.firstMediaP50, 1),
      firstMediaMaxMs: fix(joined.firstMediaMax, 1),
      joinAllMs: fix(joined.joinAllMs, 0),
      rssKiB: b.rssKiB,
      // Packets sent in the window but still in flight at its end count here too: a small figure is not loss.
      loss: Math.max(0, w.expected - w.received),
      duplicates: 0,
      errors: w.errors.length,
      firstError: w.errors[0] ?? null
    }
  }
}
