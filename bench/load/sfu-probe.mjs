// An event-loop block trace for the SFU cells (issue 14, the latency tail):
// with BENCH_SFU_PROBE=DIR set, the SFU host and the load process each record
//  - every loop block: a 2 ms timer that fires more than 5 ms late, with the
//    process's CPU time over the gap (a block with CPU ≈ its length is work
//    in this process; one with little CPU is the process not running: the
//    machine's scheduler, not the SFU);
//  - every garbage collection (PerformanceObserver 'gc': start, duration, kind);
// and write them as JSON into DIR/NAME-PID.json when the process exits, with
// a summary (node bench/load/sfu-probe.mjs DIR prints it for every file).
import { PerformanceObserver, performance } from 'node:perf_hooks'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const TICK_MS = 2
const BLOCK_MS = 5

/** Starts the trace if BENCH_SFU_PROBE names a directory. @param {string} name */
export function startProbe (name) {
  const dir = process.env.BENCH_SFU_PROBE
  if (dir === undefined || dir === '') return
  /** @type {Array<[number, number, number]>} at, late ms, CPU ms over the gap */
  const blocks = []
  /** @type {Array<[number, number, number]>} start, duration ms, kind */
  const gcs = []
  let last = performance.now()
  let lastCpu = process.cpuUsage()
  const timer = setInterval(() => {
    const t = performance.now()
    const late = t - last - TICK_MS
    if (late > BLOCK_MS) {
      const c = process.cpuUsage(lastCpu)
      blocks.push([Math.round(last), Number(late.toFixed(1)), Number(((c.user + c.system) / 1000).toFixed(1))])
    }
    last = t
    lastCpu = process.cpuUsage()
  }, TICK_MS)
  timer.unref()
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([Math.round(e.startTime), Number(e.duration.toFixed(2)), /** @type {any} */ (e).detail?.kind ?? 0])
  })
  obs.observe({ entryTypes: ['gc'] })
  process.on('exit', () => {
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, `${name}-${process.pid}.json`), JSON.stringify({ name, pid: process.pid, blocks, gcs }))
  })
}

/** A block and a GC overlap. @param {[number, number, number]} b @param {Array<[number, number, number]>} gcs */
function gcIn (b, gcs) {
  let ms = 0
  for (const g of gcs) if (g[0] + g[1] >= b[0] && g[0] <= b[0] + TICK_MS + b[1]) ms += g[1]
  return ms
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] ?? '.'
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    const { name, blocks, gcs } = JSON.parse(readFileSync(join(dir, f), 'utf8'))
    const big = blocks.filter((/** @type {any} */ b) => b[1] > 20)
    const work = blocks.filter((/** @type {any} */ b) => b[2] >= 0.7 * b[1])
    const withGc = blocks.filter((/** @type {any} */ b) => gcIn(b, gcs) >= 0.5 * b[1])
    const gcLong = gcs.filter((/** @type {any} */ g) => g[1] > 5)
    const gcSum = gcs.reduce((/** @type {number} */ a, /** @type {any} */ g) => a + g[1], 0)
    const kinds = /** @type {Record<string, number>} */ ({})
    for (const g of gcs) kinds[g[2]] = (kinds[g[2]] ?? 0) + 1
    console.log(`${f} (${name}): ${blocks.length} blocks > ${BLOCK_MS} ms (${big.length} > 20 ms, max ${Math.max(0, ...blocks.map((/** @type {any} */ b) => b[1]))} ms); ` +
      `${work.length} with CPU ≥ 70% of the gap (work here), ${withGc.length} mostly GC; ` +
      `GC: ${gcs.length} (${JSON.stringify(kinds)}), ${gcSum.toFixed(0)} ms in all, ${gcLong.length} > 5 ms (max ${Math.max(0, ...gcs.map((/** @type {any} */ g) => g[1])).toFixed(1)})`)
    if (process.argv.includes('--list')) for (const b of blocks) console.log(`  at ${b[0]} late ${b[1]} cpu ${b[2]} gc ${gcIn(b, gcs).toFixed(1)}`)
  }
}
