import type { Metrics } from '../metrics.js'
import type { PushHook } from './push-hook.js'

/** Count what the push hook does in the server's metrics. */
export function countPush (hook: PushHook, metrics: Metrics): void {
  hook.on('sent', (_user, _count, _attempts, seconds) => {
    metrics.pushSent.inc()
    metrics.pushDeliverySeconds.observe({ outcome: 'sent' }, seconds)
  })
  hook.on('failed', (_user, _count, _reason, seconds) => {
    metrics.pushFailed.inc()
    metrics.pushDeliverySeconds.observe({ outcome: 'failed' }, seconds)
  })
  hook.on('retry', () => metrics.pushRetries.inc())
  hook.on('dropped', (count, reason) => metrics.pushDropped.inc({ reason }, count))
}
