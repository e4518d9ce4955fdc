// The crash cells' harness side: kill the broker with SIGKILL at random
// moments of the flow, restart it on the same data directory and port, and
// time how long until it accepts TCP connections and answers a CONNECT again.
import { RawClient } from '../load/raw-client.mjs'
import { fix, sleep } from './sample.mjs'

/**
 * Poll with an MQTT CONNECT (clean, anonymous) every 5 ms until a CONNACK comes back.
 * @param {number} port @param {number} timeoutMs @returns {Promise<boolean>}
 */
async function connack (port, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const probe = new RawClient({ port, clientId: `crash-probe-${Date.now().toString(36)}`, clean: true, connectTimeoutMs: Math.max(100, deadline - Date.now()) })
    try {
      await probe.connect()
      probe.destroy()
      return true
    } catch {
      probe.destroy()
      await sleep(5)
    }
  }
  return false
}

/**
 * `kills` times: wait until the flow has PUBACKs again since the last restart (at least
 * `minAcks` more), then a random pause in [minGapMs, maxGapMs), then SIGKILL and restart.
 * @param {{ broker: import('../lib/brokers.mjs').Broker, load: import('../lib/load-process.mjs').LoadProcess, scenario: string, kills: number, minGapMs: number, maxGapMs: number, minAcks?: number, resumeTimeoutMs?: number }} o
 */
export async function killDuringFlow (o) {
  const kill9 = o.broker.kill9
  if (kill9 === undefined) throw new Error(`${o.broker.name} cannot be killed and restarted by the bench`)
  /** @type {{ atMs: number, killedAtEpochMs: number, ackedBefore: number, acceptMs: number, connackMs: number, resumeMs: number | null }[]} */
  const restarts = []
  const t0 = Date.now()
  const minAcks = o.minAcks ?? 1
  const resumeTimeoutMs = o.resumeTimeoutMs ?? 60_000
  /** @type {number | null} */
  let killedAt = null
  for (let k = 0; k <= o.kills; k++) {
    // The flow must have resumed since the last restart (and after the last one too): a kill
    // with nothing acknowledged since the one before would test nothing.
    const base = (await o.load.call(o.scenario, 'progress')).acked
    const deadline = Date.now() + resumeTimeoutMs
    for (;;) {
      const p = await o.load.call(o.scenario, 'progress')
      if (p.acked >= base + minAcks) break
      if (Date.now() > deadline) throw new Error(`no PUBACK within ${resumeTimeoutMs / 1000} s ${k === 0 ? 'of the flow\'s start' : `after restart ${k}`} (${p.acked} acknowledged in all)`)
      await sleep(10)
    }
    if (killedAt !== null) restarts[k - 1].resumeMs = fix(performance.now() - killedAt, 0)
    if (k === o.kills) break
    await sleep(o.minGapMs + Math.random() * (o.maxGapMs - o.minGapMs))
    const ackedBefore = (await o.load.call(o.scenario, 'progress')).acked
    const atMs = Date.now() - t0
    killedAt = performance.now()
    const killedAtEpochMs = Date.now()
    const { acceptMs } = await kill9()
    if (!await connack(o.broker.port, 60_000)) throw new Error(`no CONNACK within 60 s after restart ${k + 1}`)
    restarts.push({ atMs, killedAtEpochMs, ackedBefore, acceptMs: fix(acceptMs, 0) ?? 0, connackMs: fix(performance.now() - killedAt, 0) ?? 0, resumeMs: null })
  }
  return restarts
}

/** The restart figures as metrics: median and max of each, and every restart's time to accept. @param {{ acceptMs: number, connackMs: number }[]} restarts */
export function restartFigures (restarts) {
  /** @param {number[]} xs */
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? null : s[s.length >> 1] }
  const accept = restarts.map((r) => r.acceptMs)
  const conn = restarts.map((r) => r.connackMs)
  return {
    kills: restarts.length,
    acceptMsMedian: med(accept),
    acceptMsMax: accept.length === 0 ? null : Math.max(...accept),
    connackMsMedian: med(conn),
    connackMsMax: conn.length === 0 ? null : Math.max(...conn),
    acceptMsEach: accept.join(' ')
  }
}
