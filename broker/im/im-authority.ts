import type { Identity, TopicAuthority } from '../access.js'
import { parseImTopic } from './im-topics.js'
import type { Membership } from './membership.js'
import { parseClientId } from './protocol/index.js'

/**
 * Who may use which `im/` topic (DESIGN.md invariant 5, docs/protocol.md
 * "Topics"). Publishing to the four client topics is let through here and
 * checked in depth by the handlers, which answer with an error; everything
 * else a client cannot publish. Subscriptions name the subscriber's own inbox
 * and replies, presence, or a channel feed it follows; deliveries are checked
 * again per concrete topic, so a removed member stops receiving at once.
 */
export class ImAuthority implements TopicAuthority {
  readonly #membership: Membership

  constructor (membership: Membership) {
    this.#membership = membership
  }

  canPublish (identity: Identity, topic: string): boolean {
    if (identity.user === null) return false
    const t = parseImTopic(topic)
    return t !== null && (t.kind === 'send' || t.kind === 'cmd' || t.kind === 'typing' || t.kind === 'file')
  }

  canSubscribe (identity: Identity, filter: string): boolean {
    const user = identity.user
    if (user === null) return false
    const levels = filter.split('/')
    if (levels[0] !== 'im') return false
    switch (levels[1]) {
      case 'inbox':
        // im/inbox/{self}, im/inbox/{self}/#, im/inbox/{self}/+ or one conversation of it
        return levels[2] === user && (levels.length === 3 || (levels.length === 4 && levels[3] !== ''))
      case 'reply': {
        const own = parseClientId(identity.clientId)
        return levels.length === 4 && levels[2] === user && own !== null && levels[3] === own.device
      }
      case 'presence':
        // any user or +: what arrives is filtered per user at delivery
        return levels.length === 3 && levels[2] !== '' && levels[2] !== '#'
      case 'conv':
        return levels.length === 3 && this.#membership.role(levels[2]!, user) !== undefined
      default:
        return false
    }
  }

  canReceive (identity: Identity, topic: string): boolean {
    const user = identity.user
    if (user === null) return false
    const t = parseImTopic(topic)
    if (t === null) return false
    switch (t.kind) {
      case 'inbox':
        return t.user === user && (t.conv === undefined || this.#membership.role(t.conv, user) !== undefined)
      case 'reply':
        return t.user === user && parseClientId(identity.clientId)?.device === t.device
      case 'presence':
        return this.#membership.sharesConversation(user, t.user)
      case 'feed':
        return this.#membership.role(t.conv, user) !== undefined
      default:
        return false
    }
  }
}
