import { forbidden } from '../im-error.js'
import type { CommandTable } from './command.js'

export const profileCommands: CommandTable = {
  async 'presence.set' (ctx, caller, { status }) {
    ctx.presence.choose(caller.user, status)
    return { status }
  },

  async 'keys.put' (ctx, caller, { keyId, alg, publicKey }) {
    await ctx.stores.keys.put(caller.user, caller.device, { keyId, alg, publicKey, createdAt: Date.now() })
    return {}
  },

  async 'keys.get' (ctx, caller, { user }) {
    // Keys are for people one talks to: the same rule as presence.
    if (!ctx.membership.sharesConversation(caller.user, user)) throw forbidden(`you share no conversation with ${user}`)
    return { user, keys: await ctx.stores.keys.list(user) }
  }
}
