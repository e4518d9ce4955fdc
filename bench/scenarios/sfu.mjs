// SFU: forwarded RTP packets/s per core and for the whole node, added
// latency, join → first media. Hail's MediaServer runs alone in a process on
// the broker's CPU (bench/load/sfu-host.mjs); synthetic werift devices run in
// the load process. Cells are named by shape: hail-1x10 = 1 publisher → 10
// subscribers, one room, in the SFU's main thread. hail-w2-4x10: the whole
// node: 2 media worker threads (MediaWorkers) and 2 rooms of that shape (one
// lands on each worker), the SFU on CPUs 0-1 (on a 2-CPU machine it shares
// CPU 1 with the load generator: say so beside its figures).
import { availableParallelism } from 'node:os'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { cpuMicros } from '../lib/proc.mjs'
import { fix, sample, sleep } from './sample.mjs'

const ROOT = new URL('../../', import.meta.url).pathname
/** RSS is sampled this often through the measured window. */
const RSS_EVERY_MS = 250

/** Least-squares slope of [x, y] points, y per unit of x (0 for fewer than 2). @param {number[][]} pts */
export function slopePerMs (pts) {
  if (pts.length < 2) return 0
  const n = pts.length
  const mx = pts.reduce((s, [x]) => s + x, 0) / n
  const my = pts.reduce((s, [, y]) => s + y, 0) / n
  let num = 0
  let den = 0
  for (const [x, y] of pts) { num += (x - mx) * (y - my); den += (x - mx) ** 2 }
  return den > 0 ? num / den : 0
}

/** @param {string} variant e.g. hail-4x10 */
export function sfuShape (variant) {
  const m = /(\d+)x(\d+)$/.exec(variant)
  if (m === null) throw new Error(`SFU cell ${variant}: want a name like hail-1x10`)
  const w = /-w(\d+)-/.exec(variant)
  const workers = w === null ? 1 : Number(w[1])
  return { publishers: Number(m[1]), subscribers: Number(m[2]), workers, rooms: workers }
}

/** @type {import('./types.mjs').Scenario} */
export const sfu = {
  name: 'sfu',
  title: 'SFU',
  launchAs: 'hail-sfu',
  describe: (p) => `Hail's MediaServer alone; synthetic werift devices; each publisher sends ${p.pps} RTP packets/s of ${p.size} B for ${p.seconds} s to every subscriber; cells hail-PxS (P publishers → S subscribers, one room, main thread) and hail-wN-PxS (N media worker threads, N such rooms: the whole node)`,
  headline: [
    { key: 'ppsPerCore', label: 'fwd pkt/s per core', better: 'higher' },
    { key: 'throughput', label: 'node fwd pkt/s', better: 'higher' },
    { key: 'sfuCores', label: 'SFU cores busy', better: 'lower' },
    { key: 'loadCores', label: 'load cores busy', better: 'lower' },
    { key: 'p50', label: 'added p50 ms', better: 'lower' },
    { key: 'p99', label: 'added p99 ms', better: 'lower' },
    { key: 'firstMediaMs', label: 'join → first media ms', better: 'lower' },
    { key: 'audioLoss', label: 'audio loss', better: 'lower', ratio: false },
    { key: 'audioP99', label: 'audio p99 ms', better: 'lower', ratio: false },
    { key: 'rssMinMiB', label: 'RSS min MiB (window)', better: 'lower', ratio: false },
    { key: 'rssMaxMiB', label: 'RSS max MiB (window)', better: 'lower', ratio: false },
    { key: 'rssSlopeMiBPerMin', label: 'RSS slope MiB/min', better: 'lower', ratio: false }
  ],
  notApplicable () {
    if (!existsSync(join(ROOT, 'media/index.ts'))) return 'n/a: media/index.ts does not exist yet (no MediaServer)'
    if (!existsSync(join(ROOT, 'dist/media/index.js'))) return 'n/a: dist/media/index.js missing: run npm run build'
    return null
  },
  /** The whole-node cells: the worker count to the host, and the host on that many CPUs (not one). */
  async brokerOptions (variant) {
    const { workers } = sfuShape(variant)
    if (workers <= 1) return {}
    return { cpu: `0-${Math.min(workers, availableParallelism()) - 1}`, extraArgs: ['--workers', String(workers)] }
  },
  async run ({ broker, load, params, cell }) {
    const shape = sfuShape(cell.broker)
    const audioPps = params.audioPps ?? 0
    const joined = await load.call('sfu', 'setup', { port: broker.port, ...shape, size: params.size, audioPps }, 300_000)
    await load.call('sfu', 'start', { pps: params.pps, size: params.size, audioPps })
    await sleep(params.warmupSeconds * 1000)
    const loadPid = /** @type {number} */ (load.child.pid)
    const a = sample(broker)
    const loadA = cpuMicros(loadPid)
    await load.call('sfu', 'mark')
    // RSS through the window (not only at its end), so "memory flat" can be shown: min, max, slope
    const rss = [[a.at, a.rssKiB]]
    const end = a.at + params.seconds * 1000
    for (let t = performance.now(); t < end - 50; t = performance.now()) {
      await sleep(Math.min(RSS_EVERY_MS, end - t))
      const s = sample(broker)
      rss.push([s.at, s.rssKiB])
    }
    const b = sample(broker)
    rss.push([b.at, b.rssKiB])
    const rssValues = rss.map(([, kib]) => kib)
    const loadB = cpuMicros(loadPid)
    const w = await load.call('sfu', 'markEnd')
    await load.call('sfu', 'close')
    const seconds = (b.at - a.at) / 1000
    const cpuUs = b.cpuUs - a.cpuUs
    return {
      ppsPerCore: cpuUs > 0 ? fix(w.received / (cpuUs / 1e6), 0) : null,
      throughput: fix(w.received / seconds, 0),
      cpuUsPerMsg: fix(cpuUs / Math.max(1, w.received)),
      sfuCpuPct: fix(cpuUs / (seconds * 1e4), 0),
      // CPU-seconds per second of the SFU process, all its threads: how many cores the node used
      sfuCores: fix(cpuUs / (seconds * 1e6), 2),
      workers: shape.workers,
      // the load generator's cores: near 1 (its one CPU), it and not the SFU limited the cell
      loadCores: fix((loadB - loadA) / (seconds * 1e6), 2),
      // packets the load devices' socket hook missed (decrypted by werift instead): should be 0
      viaWerift: w.viaWerift,
      p50: w.latency.p50,
      p99: w.latency.p99,
      p999: w.latency.p999,
      firstMediaMs: fix(joined.firstMediaP50, 1),
      firstMediaMaxMs: fix(joined.firstMediaMax, 1),
      joinAllMs: fix(joined.joinAllMs, 0),
      rssKiB: b.rssKiB,
      rssMinMiB: fix(Math.min(...rssValues) / 1024, 1),
      rssMaxMiB: fix(Math.max(...rssValues) / 1024, 1),
      rssSlopeMiBPerMin: fix(slopePerMs(rss) * 60_000 / 1024, 1),
      rssSamples: rss.length,
      // Packets sent in the window but still in flight at its end count here too: a small figure is not loss.
      loss: Math.max(0, w.expected - w.received),
      // --set sfu.audioPps=50: publishers send audio too, which the overload policy never drops
      ...(audioPps > 0 ? { audioLoss: Math.max(0, w.audio.expected - w.audio.received), audioP50: w.audio.latency.p50, audioP99: w.audio.latency.p99 } : {}),
      duplicates: 0,
      errors: w.errors.length,
      firstError: w.errors[0] ?? null
    }
  }
}
