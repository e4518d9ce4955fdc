import type { Identity, TopicAuthority } from './access.js'

/** What a client asks to do with a topic: publish to it, subscribe to a filter, or receive a message on it. */
export type TopicAction = 'publish' | 'subscribe' | 'receive'

/**
 * An embedding app's own rules for the topics outside Hail's own (im/, $SYS/,
 * $hail/), in place of an ACL file: whether the client with this identity
 * (its user, null when anonymous, and its client id) may do `action` on
 * `topic` (a filter, with its wildcards, for 'subscribe'). Called on every
 * publish, subscription and delivery, so it must answer at once.
 */
export type Authorize = (identity: Identity, action: TopicAction, topic: string) => boolean

/** The hook as the authority over plain topics (mqtt/access.ts). */
export function hookAuthority (authorize: Authorize): TopicAuthority {
  return {
    canPublish: (identity, topic) => authorize(identity, 'publish', topic),
    canSubscribe: (identity, filter) => authorize(identity, 'subscribe', filter),
    canReceive: (identity, topic) => authorize(identity, 'receive', topic)
  }
}
