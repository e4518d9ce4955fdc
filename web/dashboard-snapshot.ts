// Types only: the server (dashboard-api.ts) writes this JSON and the page (app/dashboard) reads it.

/** One reading of the server's own figures; the page turns successive ones into rates and charts. */
export interface DashboardSnapshot {
  ts: number
  /** Counters are cumulative since the process started; gauges are now. */
  figures: {
    connections: number
    messagesIn: number
    messagesOut: number
    publishesInFlight: number
    /** The journal's synced batches: time spent and how many (level mode). */
    storeSyncSeconds: number
    storeSyncs: number
    /** Synced batches per upper bound in seconds, cumulative as Prometheus buckets are. */
    storeSyncBuckets: Array<[number, number]>
    limitHits: number
    authFailures: number
    callsActive: number
    callForwardedPackets: number
    callLoss: number
    callJitterMs: number
    callRttMs: number
    cpuSeconds: number
    residentBytes: number
    eventLoopLagSeconds: number
  }
  calls: Array<{
    id: string
    conv: string
    mode: string
    media: { audio: boolean, video: boolean }
    state: string
    startedAt: number
    answeredAt: number | null
    participants: string[]
    quality: { loss: number, jitterMs: number, rttMs: number | null } | null
  }>
}
