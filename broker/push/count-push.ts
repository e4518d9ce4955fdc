import type { Metrics } from '../metrics.js'
import type { PushHook } from './push-hook.js'

/** Count what the push hook does in the server's metrics. */
export function countPush (hook: PushHook, metrics: Metrics): void {
  hook.on('sent', () => metrics.pushSent.inc())
  hook.on('failed', () => metrics.pushFailed.inc())
  hook.on('retry', () => metrics.pushRetries.inc())
  hook.on('dropped', (count, reason) => metrics.pushDropped.inc({ reason }, count))
}
