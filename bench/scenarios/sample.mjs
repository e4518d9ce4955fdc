// CPU and memory of a broker (all its processes, e.g. hail and its redis-server).
import { cpuMicros, rssKiB } from '../lib/proc.mjs'

/** @param {{ pids: number[] }} broker */
export function sample (broker) {
  let cpuUs = 0
  let rss = 0
  for (const pid of broker.pids) {
    cpuUs += cpuMicros(pid)
    rss += rssKiB(pid)
  }
  return { cpuUs, rssKiB: rss, at: performance.now() }
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** @param {number | null} x @param {number} [digits] */
export const fix = (x, digits = 2) => x === null || !Number.isFinite(x) ? null : Number(x.toFixed(digits))
