import type { Aedes } from 'aedes'
import type { Backend } from './backend/backend.js'
import type { HttpListener, HttpRoute } from './listeners/http-listener.js'
import type { MqttListener } from './listeners/mqtt-listener.js'
import type { Metrics } from './metrics.js'
import { hailVersion } from './version.js'

/** What /healthz and /metrics read of a running server, each when asked (parts appear as listen() goes). */
export interface StatusParts {
  state: () => string
  backend: () => Backend | undefined
  aedes: () => Aedes | undefined
  publishesInFlight: () => number
  mqttListeners: readonly MqttListener[]
  httpListeners: readonly HttpListener[]
}

/**
 * The server's own routes for operators: /healthz (JSON, 200 while serving
 * with its stores up, else 503; load balancers and `curl | grep` read
 * `status` first) and /metrics (Prometheus text), plus the metric sources
 * that read the live server at collection.
 */
export function serveStatus (routes: Map<string, HttpRoute>, metrics: Metrics, parts: StatusParts): void {
  routes.set('/healthz', async (_req, res) => {
    const backend = parts.backend()
    const redisDown = backend?.healthy === false
    const state = parts.state()
    const healthy = state === 'listening' && !redisDown
    const body = {
      status: healthy ? 'ok' : redisDown ? 'redis unreachable' : state,
      version: hailVersion(),
      uptimeSeconds: Math.round(process.uptime()),
      ...(backend === undefined ? {} : { node: backend.nodeId, run: backend.runId, ...await backend.status().catch(() => ({})) })
    }
    res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body) + '\n')
  })
  routes.set('/metrics', async (_req, res) => {
    const text = await metrics.text()
    res.writeHead(200, { 'content-type': metrics.contentType }).end(text)
  })
  metrics.sources.connectedClients = () => parts.aedes()?.connectedClients ?? 0
  metrics.sources.publishesInFlight = parts.publishesInFlight
  metrics.sources.bytes = () => [
    ...parts.mqttListeners.map((l) => ({ listener: 'mqtt', ...l.connections.bytes() })),
    ...parts.httpListeners.map((l) => ({ listener: 'http', ...l.connections.bytes() }))
  ]
  metrics.sources.subscriptions = () => {
    let n = 0
    for (const client of Object.values((parts.aedes() as unknown as { clients?: Record<string, { subscriptions?: object }> } | undefined)?.clients ?? {})) {
      n += Object.keys(client.subscriptions ?? {}).length
    }
    return n
  }
}
