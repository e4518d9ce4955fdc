import { topics, type ErrorBody } from '../../protocol/index.js'
import type { Caller, ImContext } from './im-context.js'
import { ImError } from './im-error.js'
import type { EventBody } from './publisher.js'

/**
 * Answer one device on its reply topic (im/reply/{user}/{device}); a lost
 * answer is logged, never thrown. QoS 0 for what the device can recover by
 * itself (`sent`: the message's echo in its inbox, or sync, settles the
 * send), so it never takes a durable queue.
 */
export function reply (ctx: ImContext, caller: Caller, event: EventBody, qos: 0 | 1 = 1): void {
  ctx.publisher.event(topics.reply(caller.user, caller.device), event, qos)
    .catch((err: unknown) => ctx.log.warn({ err }, 'reply failed'))
}

/** What a device is told of a failure: an ImError as it is, anything else as the server's fault. */
export function errorBody (err: unknown): ErrorBody {
  if (err instanceof ImError) return { code: err.code, message: err.message }
  return { code: 'HAIL_ERR_INTERNAL', message: 'the server failed; nothing was stored' }
}

/** A string field of a JSON payload (a send's `cid`, a request's `req`), if it can be read, to correlate an error reply. */
export function refOf (payload: Buffer, name: 'cid' | 'req'): string | null {
  try {
    const value = (JSON.parse(payload.toString('utf8')) as Record<string, unknown>)[name]
    return typeof value === 'string' && value.length <= 64 ? value : null
  } catch {
    return null
  }
}
