import type { MetricObjectWithValues, MetricValue } from 'prom-client'
import { fail, json, type WebRoute } from './http-reply.js'
import type { DashboardSnapshot } from './dashboard-snapshot.js'
import { signedIn } from './session-api.js'
import type { WebHost } from './web-host.js'

/**
 * `GET /api/dashboard`: the figures of the operator's dashboard, read from
 * the server's own Prometheus registry (the same numbers as /metrics), for
 * signed-in admins only (`hail user admin NAME on`).
 */
export function dashboardRoutes (host: WebHost): Map<string, WebRoute> {
  const snapshot: WebRoute = async (req, res) => {
    if (req.method !== 'GET') return fail(res, 405, 'HAIL_ERR_BAD_REQUEST', 'GET the figures here', { allow: 'GET' })
    const who = await signedIn(host, req, res)
    if (who === undefined) return
    // The flag is read at every request: taking it away works at once.
    if ((await host.users.get(who.user))?.admin !== true) {
      return fail(res, 403, 'HAIL_ERR_FORBIDDEN', `${who.user} is not an admin (hail user admin ${who.user} on)`)
    }
    json(res, 200, await readSnapshot(host))
  }
  return new Map([['/api/dashboard', snapshot]])
}

async function readSnapshot (host: WebHost): Promise<DashboardSnapshot> {
  const metrics = new Map((await host.metrics.registry.getMetricsAsJSON()).map((m) => [m.name, m]))
  const sum = (name: string): number => values(metrics.get(name)).reduce((a, v) => a + v.value, 0)
  const sync = metrics.get('hail_journal_sync_seconds')
  const buckets = values(sync)
    .filter((v) => v.metricName === 'hail_journal_sync_seconds_bucket' && v.labels.le !== '+Inf')
    .map((v): [number, number] => [Number(v.labels.le), v.value])
  const bridge = host.calls
  return {
    ts: Date.now(),
    figures: {
      connections: sum('hail_connections'),
      messagesIn: sum('hail_messages_in_total'),
      messagesOut: sum('hail_messages_out_total'),
      publishesInFlight: sum('hail_publishes_in_flight'),
      storeSyncSeconds: histogramPart(sync, 'sum'),
      storeSyncs: histogramPart(sync, 'count'),
      storeSyncBuckets: buckets,
      limitHits: sum('hail_limit_hits_total'),
      authFailures: sum('hail_auth_failures_total'),
      callsActive: sum('hail_calls_active'),
      callForwardedPackets: sum('hail_call_forwarded_packets_total'),
      callLoss: sum('hail_call_loss_ratio'),
      callJitterMs: sum('hail_call_jitter_seconds') * 1000,
      callRttMs: sum('hail_call_rtt_seconds') * 1000,
      cpuSeconds: sum('hail_process_cpu_seconds_total'),
      residentBytes: sum('hail_process_resident_memory_bytes'),
      eventLoopLagSeconds: sum('hail_nodejs_eventloop_lag_seconds')
    },
    calls: (bridge?.calls() ?? []).filter((c) => c.state !== 'ended').map((c) => ({
      id: c.id,
      conv: c.conv,
      mode: c.mode,
      media: { audio: c.media.audio, video: c.media.video },
      state: c.state,
      startedAt: c.startedAt,
      answeredAt: c.answeredAt,
      participants: [...c.participants].map(([user, device]) => `${user}/${device}`),
      quality: bridge?.quality(c.id) ?? null
    }))
  }
}

type Value = MetricValue<string> & { metricName?: string }

/** A histogram's values name their series (`_bucket`, `_sum`, `_count`) in metricName. */
function values (metric: MetricObjectWithValues<MetricValue<string>> | undefined): Value[] {
  return (metric?.values ?? []) as Value[]
}

function histogramPart (metric: MetricObjectWithValues<MetricValue<string>> | undefined, part: 'sum' | 'count'): number {
  return values(metric).filter((v) => v.metricName === `${metric!.name}_${part}`).reduce((a, v) => a + v.value, 0)
}
