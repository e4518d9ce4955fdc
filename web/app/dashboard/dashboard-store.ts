import { signal } from '@preact/signals'
import type { DashboardSnapshot } from '../../dashboard-snapshot.js'

/** One point of every chart, derived from two successive snapshots. */
export interface DashboardPoint {
  /** seconds since the epoch */
  t: number
  connections: number
  inPerSecond: number
  outPerSecond: number
  /** Mean time of a synced store batch in this interval, ms (null when none happened). */
  storeMeanMs: number | null
  /** Upper bound of the bucket holding the 99th percentile of this interval's batches, ms. */
  storeP99Ms: number | null
  backlog: number
  callsActive: number
  lossPct: number
  jitterMs: number
  rttMs: number
  cpuPct: number
  rssMB: number
  lagMs: number
}

/** Ten minutes at one snapshot every two seconds. */
const KEEP = 300
export const POLL_MS = 2000

/** Polls /api/dashboard and keeps the recent history of the figures as points. */
export class DashboardStore {
  readonly points = signal<readonly DashboardPoint[]>([])
  readonly latest = signal<DashboardSnapshot | null>(null)
  readonly problem = signal<{ status: number, message: string } | null>(null)
  readonly #token: () => string
  #previous: DashboardSnapshot | undefined
  #timer: ReturnType<typeof setInterval> | undefined

  constructor (token: () => string) {
    this.#token = token
  }

  start (): void {
    void this.#poll()
    this.#timer = setInterval(() => { void this.#poll() }, POLL_MS)
  }

  stop (): void {
    clearInterval(this.#timer)
  }

  async #poll (): Promise<void> {
    let res: Response
    try {
      res = await fetch('/api/dashboard', { headers: { authorization: `Bearer ${this.#token()}` } })
    } catch {
      this.problem.value = { status: 0, message: 'The server cannot be reached.' }
      return
    }
    if (!res.ok) {
      const body = await res.json().catch(() => ({})) as { error?: { message?: string } }
      this.problem.value = { status: res.status, message: body.error?.message ?? `HTTP ${res.status}` }
      if (res.status === 403) this.stop()
      return
    }
    const snapshot = await res.json() as DashboardSnapshot
    this.problem.value = null
    this.latest.value = snapshot
    const previous = this.#previous
    this.#previous = snapshot
    if (previous === undefined) return
    const next = [...this.points.value, point(previous, snapshot)]
    this.points.value = next.length > KEEP ? next.slice(next.length - KEEP) : next
  }
}

function point (a: DashboardSnapshot, b: DashboardSnapshot): DashboardPoint {
  const dt = Math.max(0.001, (b.ts - a.ts) / 1000)
  const f = b.figures
  const rate = (key: 'messagesIn' | 'messagesOut' | 'cpuSeconds'): number => Math.max(0, f[key] - a.figures[key]) / dt
  const syncs = f.storeSyncs - a.figures.storeSyncs
  return {
    t: b.ts / 1000,
    connections: f.connections,
    inPerSecond: rate('messagesIn'),
    outPerSecond: rate('messagesOut'),
    storeMeanMs: syncs > 0 ? 1000 * (f.storeSyncSeconds - a.figures.storeSyncSeconds) / syncs : null,
    storeP99Ms: syncs > 0 ? p99(a.figures.storeSyncBuckets, f.storeSyncBuckets, syncs) : null,
    backlog: f.publishesInFlight,
    callsActive: f.callsActive,
    lossPct: 100 * f.callLoss,
    jitterMs: f.callJitterMs,
    rttMs: f.callRttMs,
    cpuPct: 100 * rate('cpuSeconds'),
    rssMB: f.residentBytes / 1e6,
    lagMs: 1000 * f.eventLoopLagSeconds
  }
}

/** The bucket bound (ms) under which 99% of this interval's batches fell; Prometheus buckets are cumulative. */
function p99 (before: Array<[number, number]>, after: Array<[number, number]>, total: number): number | null {
  const earlier = new Map(before)
  for (const [le, count] of after) {
    if (count - (earlier.get(le) ?? 0) >= 0.99 * total) return le * 1000
  }
  return null
}
