import type { CommandArgs, Method } from '../../../protocol/schemas.js'
import type { Caller, ImContext } from '../im-context.js'

/** One im/cmd method: validated arguments in, a JSON result out, ImError for refusals. */
export type Command<M extends Method> = (ctx: ImContext, caller: Caller, args: CommandArgs<M>) => Promise<unknown>

export type CommandTable = { [M in Method]?: Command<M> }
