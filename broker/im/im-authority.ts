import type { Identity, TopicAuthority } from '../mqtt/access.js'
import type { Caller } from './im-context.js'
import type { ImExtension } from './im-extension.js'
import { parseImTopic } from '../../protocol/index.js'
import type { Membership } from './membership.js'
import { parseClientId } from '../../protocol/index.js'

/**
 * Who may use which `im/` topic (DESIGN.md invariant 5, docs/protocol.md
 * "Topics"). Publishing to the four client topics is let through here and
 * checked in depth by the handlers, which answer with an error; everything
 * else a client cannot publish. Subscriptions name the subscriber's own inbox
 * and replies, presence, or a channel feed it follows; deliveries are checked
 * again per concrete topic, so a removed member stops receiving at once.
 */
/** `im/send`, `im/cmd` or `im/file` and whatever follows: requests, malformed or not. */
/** Whether `conv` is a direct conversation id that names `user` (d:{a}:{b}). */
function directOf (conv: string, user: string): boolean {
  if (!conv.startsWith('d:')) return false
  const [, a, b] = conv.split(':')
  return a === user || b === user
}

const MALFORMED_REQUEST = /^im\/(send|cmd|file)(\/|$)/

export class ImAuthority implements TopicAuthority {
  readonly #membership: Membership
  readonly #extensions: ReadonlyMap<string, ImExtension>

  /** `extensions` (by subtree) rule their own `im/{subtree}/...` topics, for callers with a `{user}/{device}` client id. */
  constructor (membership: Membership, extensions: ReadonlyMap<string, ImExtension> = new Map()) {
    this.#membership = membership
    this.#extensions = extensions
  }

  canPublish (identity: Identity, topic: string): boolean {
    if (identity.user === null) return false
    const t = parseImTopic(topic)
    // A malformed request topic reaches the engine, which answers it with an error (ImLayer).
    if (t === null && MALFORMED_REQUEST.test(topic)) return true
    if (t === null) return this.#extension(identity, topic, (ext, caller) => ext.canPublish(caller, topic))
    return t.kind === 'send' || t.kind === 'cmd' || t.kind === 'typing' || t.kind === 'file'
  }

  canSubscribe (identity: Identity, filter: string): boolean {
    const user = identity.user
    if (user === null) return false
    const levels = filter.split('/')
    if (levels[0] !== 'im') return false
    switch (levels[1]) {
      case 'inbox':
        // im/inbox/{self}, im/inbox/{self}/#, im/inbox/{self}/+ or one conversation of it the
        // user is in (a direct one naming the user counts before its first message)
        if (levels[2] !== user) return false
        if (levels.length === 3) return true
        if (levels.length !== 4 || levels[3] === '') return false
        return levels[3] === '#' || levels[3] === '+' || this.#membership.role(levels[3]!, user) !== undefined || directOf(levels[3]!, user)
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
        return this.#extension(identity, filter, (ext, caller) => ext.canSubscribe(caller, filter))
    }
  }

  canReceive (identity: Identity, topic: string): boolean {
    const user = identity.user
    if (user === null) return false
    const t = parseImTopic(topic)
    if (t === null) return this.#extension(identity, topic, (ext, caller) => ext.canReceive(caller, topic))
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

  /** Ask the extension owning `im/{levels[1]}/...`, if any; only devices with a proper client id may use it. */
  #extension (identity: Identity, topic: string, ask: (ext: ImExtension, caller: Caller) => boolean): boolean {
    const levels = topic.split('/')
    if (levels[0] !== 'im' || levels.length < 2) return false
    const ext = this.#extensions.get(levels[1]!)
    const caller = parseClientId(identity.clientId)
    if (ext === undefined || caller === null || caller.user !== identity.user) return false
    return ask(ext, caller)
  }
}
