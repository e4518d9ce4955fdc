// contrib/grafana/hail-dashboard.json queries Hail's /metrics: every series it names must
// exist on a real server (the daemon's assembly, calls included; Redis mode for the
// Redis-only panels), and the figures added for it must move with real traffic.
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import mqtt from 'mqtt'
import { createServer } from '../../index.js'
import { RedisServer } from '../helpers/redis-server.js'

const dashboard = JSON.parse(readFileSync(new URL('../../contrib/grafana/hail-dashboard.json', import.meta.url), 'utf8')) as {
  panels: Array<{ title: string, targets: Array<{ expr: string }> }>
}

/** The metric families an expression reads (histogram/summary parts mapped to their family). */
function familiesOf (expr: string): string[] {
  return [...expr.matchAll(/\bhail_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''))
}

async function serve (t: Test, extra: Record<string, unknown> = {}): Promise<{ mqtt: string, http: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-grafana-'))
  const server = createServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: 0, allowAnonymous: true, ...extra })
  const a = await server.listen()
  t.teardown(async () => { await server.close(); await rm(dir, { recursive: true, force: true }) })
  return { mqtt: `mqtt://127.0.0.1:${a.mqtt!.port}`, http: `http://127.0.0.1:${a.http!.port}` }
}

const families = (text: string): Set<string> => new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!))

function value (text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '))
  return line === undefined ? NaN : Number(line.slice(series.length + 1))
}

t.test('every series the Grafana dashboard queries is exported (Redis mode for the Redis panels)', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(async () => await redis.stop())
  const embedded = families(await (await fetch(`${(await serve(t)).http}/metrics`)).text())
  const clustered = families(await (await fetch(`${(await serve(t, { redis: redis.url })).http}/metrics`)).text())
  t.ok(dashboard.panels.length >= 10, `${dashboard.panels.length} panels`)
  for (const panel of dashboard.panels) {
    const wanted = [...new Set(panel.targets.flatMap((target) => familiesOf(target.expr)))]
    const redisOnly = /Redis|adopted/.test(panel.title)
    const missing = wanted.filter((f) => !(redisOnly ? clustered : embedded).has(f))
    t.same(missing, [], `${panel.title}: ${wanted.join(', ')}`)
  }
})

t.test('bytes, subscriptions and HTTP requests are counted from real traffic', async (t) => {
  const s = await serve(t)
  const metricsText = async (): Promise<string> => await (await fetch(`${s.http}/metrics`)).text()
  const before = await metricsText()
  const client = await mqtt.connectAsync(s.mqtt, { clientId: 'metrics-probe', reconnectPeriod: 0 })
  t.teardown(() => { client.end(true) })
  await client.subscribeAsync({ 'a/#': { qos: 1 }, 'b/+': { qos: 0 } })
  await client.publishAsync('a/x', Buffer.alloc(5000, 1), { qos: 1 })
  await new Promise((resolve) => setTimeout(resolve, 200))
  const after = await metricsText()
  t.ok(value(after, 'hail_bytes_received_total{listener="mqtt"}') - (value(before, 'hail_bytes_received_total{listener="mqtt"}') || 0) >= 5000, 'the 5,000-byte publish counted in')
  t.ok(value(after, 'hail_bytes_sent_total{listener="mqtt"}') - (value(before, 'hail_bytes_sent_total{listener="mqtt"}') || 0) >= 5000, 'and its delivery counted out')
  t.equal(value(after, 'hail_subscriptions'), 2, 'two subscriptions held')
  t.ok(value(after, 'hail_http_requests_total{route="/metrics",status="2xx"}') >= 1, 'the first scrape counted as a 2xx on /metrics')
  await fetch(`${s.http}/no-such-page`)
  t.ok(value(await metricsText(), 'hail_http_requests_total{route="404",status="4xx"}') >= 1, 'an unknown path counted under route 404 (no label per path)')
})
