import type { Redis } from 'ioredis'
import type { Logger } from 'pino'

/** What keepSubscribed() reads of mqemitter-redis 7.2 (a tripwire test pins it). */
export interface RedisEmitterInternals {
  /** Redis channel or pattern → how many local listeners need it. */
  _topics: Record<string, number>
}

/**
 * mqemitter-redis SUBSCRIBEs a topic on Redis when its first local listener
 * comes and only counts the ones after it. Hail's connections fail a command
 * issued while Redis is away instead of holding it (redis-connection.ts), so
 * a client that resubscribes while the emitter's subscriber connection is
 * still reconnecting leaves a topic the emitter counts and Redis never heard
 * of: every later message on it is stored in the queues but never routed to
 * this node's connected subscribers (redis-outage.test.ts, 1 run in 7).
 * ioredis' own resubscription only knows the commands that succeeded. So at
 * every (re)connection of the subscriber, subscribe every topic the emitter
 * has listeners for; Redis ignores a subscription it already has.
 */
export function keepSubscribed (emitter: RedisEmitterInternals, subConn: Redis, logger: Logger): () => void {
  const onReady = (): void => {
    const topics = Object.keys(emitter._topics)
    if (topics.length === 0) return
    // mqemitter-redis turns MQTT wildcards into '*' and psubscribes those
    const patterns = topics.filter((t) => t.includes('*'))
    const channels = topics.filter((t) => !t.includes('*'))
    const again = [
      patterns.length > 0 ? subConn.psubscribe(...patterns) : undefined,
      channels.length > 0 ? subConn.subscribe(...channels) : undefined
    ]
    Promise.all(again).then(() => {
      logger.debug({ patterns: patterns.length, channels: channels.length }, 'emitter subscriptions asserted after reconnect')
    }, (err: unknown) => {
      // Lost again before it was through: the next 'ready' asserts them once more.
      logger.warn({ err: (err as Error).message }, 'emitter subscriptions could not be asserted; retried at the next reconnect')
    })
  }
  subConn.on('ready', onReady)
  return () => { subConn.off('ready', onReady) }
}
