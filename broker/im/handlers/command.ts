import { channelCommands } from '../commands/channel-commands.js'
import type { Command, CommandTable } from '../commands/command.js'
import { conversationCommands } from '../commands/conversation-commands.js'
import { fileCommands } from '../commands/file-commands.js'
import { groupCommands } from '../commands/group-commands.js'
import { profileCommands } from '../commands/profile-commands.js'
import { pushCommands } from '../commands/push-commands.js'
import type { ImExtensionCommand } from '../im-extension.js'
import type { Caller, ImContext } from '../im-context.js'
import { ImError } from '../im-error.js'
import { decodeJson, validate } from '../payload.js'
import { errorBody, reply } from '../reply.js'
import { commands, isMethod, requestEnvelope, type Method } from '../../../protocol/schemas.js'

const handlers: CommandTable = { ...conversationCommands, ...groupCommands, ...channelCommands, ...profileCommands, ...fileCommands, ...pushCommands }

/** An extension's command for a method the engine does not answer itself, if one has it. */
export type ExtensionCommands = (method: string) => ImExtensionCommand | undefined

/**
 * A request published on im/cmd/{method}: the engine's own methods
 * (commands/) or an extension's (calls), answered on the device's reply
 * topic with `result`, correlated by the request's `req`. Every failure is
 * an answer; nothing is thrown (a request writes what it writes itself).
 */
export async function handleCommand (ctx: ImContext, caller: Caller, method: string, payload: Buffer, extensionCommand: ExtensionCommands): Promise<void> {
  let req: string | null = null
  try {
    const body = decodeJson(payload, ctx.limits.maxMessageBytes)
    const envelope = requestEnvelope.safeParse(body)
    if (!envelope.success) throw new ImError('HAIL_ERR_BAD_REQUEST', 'a request needs "req": 1-64 of A-Z a-z 0-9 _ -')
    req = envelope.data.req
    const { req: _req, ...rest } = envelope.data
    const extCommand = isMethod(method) ? undefined : extensionCommand(method)
    if (extCommand !== undefined) {
      const result = await extCommand.handle(caller, validate(extCommand.args, rest))
      reply(ctx, caller, { type: 'result', req, ok: true, result })
      return
    }
    if (!isMethod(method)) throw new ImError('HAIL_ERR_UNKNOWN_METHOD', `no method ${method}`)
    const args = validate(commands[method], rest)
    const handler = handlers[method] as Command<Method>
    const result = await handler(ctx, caller, args as never)
    reply(ctx, caller, { type: 'result', req, ok: true, result })
  } catch (err) {
    if (!(err instanceof ImError)) ctx.log.error({ err, method }, 'request failed')
    reply(ctx, caller, { type: 'result', req, ok: false, error: errorBody(err) })
  }
}
