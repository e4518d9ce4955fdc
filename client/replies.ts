import type { ServerEvent } from '../protocol/index.js'
import { HailClientError } from './errors.js'
import type { SendResult } from './options.js'
import { PendingReplies } from './pending-replies.js'

type ReplyEvent = Extract<ServerEvent, { type: 'sent' | 'error' | 'result' }>

/** The device's reply topic: sends wait by cid, requests by req. */
export class Replies {
  readonly sends = new PendingReplies<SendResult>('reply to message')
  readonly requests = new PendingReplies<unknown>('reply to request')

  /** Settles whoever waits for this reply; returns an error nobody waited for, to be reported. */
  settle (event: ReplyEvent): HailClientError | undefined {
    switch (event.type) {
      case 'sent': {
        const { cid, conv, seq, id, ts, duplicate } = event
        this.sends.resolve(cid, { cid, conv, seq, id, ts, duplicate: duplicate === true })
        return undefined
      }
      case 'error': {
        const err = new HailClientError(event.error.code, event.error.message, event.ref === null ? undefined : { ref: event.ref })
        return event.ref !== null && this.sends.reject(event.ref, err) ? undefined : err
      }
      case 'result':
        if (event.req === null) return new HailClientError(event.ok ? 'HAIL_ERR_BAD_PAYLOAD' : event.error.code, event.ok ? 'a result without req' : event.error.message)
        if (event.ok) this.requests.resolve(event.req, event.result)
        else this.requests.reject(event.req, new HailClientError(event.error.code, event.error.message, { ref: event.req }))
        return undefined
    }
  }

  rejectAll (err: (ref: string) => HailClientError): void {
    this.sends.rejectAll(err)
    this.requests.rejectAll(err)
  }
}
