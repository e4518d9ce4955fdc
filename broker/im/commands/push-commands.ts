import type { CommandTable } from './command.js'

/**
 * Push tokens of the calling device: they ride along in the push hook's
 * notifications (README, "Push"), so the operator's gateway knows where to
 * wake the user's phones and browsers.
 */
export const pushCommands: CommandTable = {
  async 'push.register' (ctx, caller, { token, platform }) {
    await ctx.stores.pushTokens.register(caller.user, caller.device, token, platform)
    return { token, platform }
  },

  async 'push.unregister' (ctx, caller, { token }) {
    // Without a token: every token of this device (an app signing out).
    const removed = token === undefined
      ? await ctx.stores.pushTokens.unregisterDevice(caller.user, caller.device)
      : Number(await ctx.stores.pushTokens.unregister(caller.user, token))
    return { removed }
  }
}
