import type { Redis } from 'ioredis'
import type { Histogram } from 'prom-client'

interface CommandLike {
  name: string
  promise: Promise<unknown>
}

/**
 * Times the commands sent on `redis`, from the moment ioredis takes one to its
 * reply, into `seconds{connection}`: what Redis (and the network) cost each
 * store write and queue read, which PING alone does not show (a Redis busy
 * with a big AOF rewrite or a slow script answers PING late too, but a queue
 * of commands shows it first). Commands that fail (Redis away) are not
 * counted. Wraps ioredis 5's sendCommand, which every command goes through.
 */
export function timeCommands (redis: Redis, seconds: Histogram<'connection'>, connection: string): void {
  const send = redis.sendCommand
  if (typeof send !== 'function') throw new Error('ioredis has no sendCommand (ioredis internals changed?): see broker/redis/command-latency.ts')
  const observe = seconds.labels(connection)
  redis.sendCommand = function timedSend (this: Redis, command: CommandLike, ...rest: unknown[]) {
    const result = (send as (...args: unknown[]) => unknown).call(this, command, ...rest)
    // a clock read and a callback: well under a microsecond, against a round trip of tens
    if (command?.promise !== undefined) {
      const started = process.hrtime.bigint()
      command.promise.then(() => {
        observe.observe(Number(process.hrtime.bigint() - started) / 1e9)
      }, () => {})
    }
    return result
  } as typeof redis.sendCommand
}
