import type { Caller, ImContext } from '../im-context.js'
import { ImError } from '../im-error.js'
import { errorBody, reply } from '../reply.js'

/**
 * A chunk of an upload published on im/file/{uploadId}/{index}: on disk
 * before the PUBACK. A refusal is told on the reply topic with ref = the
 * upload id; a store failure rejects (no PUBACK: the device sends again).
 */
export async function handleFileChunk (ctx: ImContext, caller: Caller, uploadId: string, index: number, payload: Buffer): Promise<void> {
  try {
    if (ctx.files === undefined) throw new ImError('HAIL_ERR_UNKNOWN_METHOD', 'this server stores no files')
    await ctx.files.chunk(caller.user, uploadId, index, payload)
  } catch (err) {
    if (!(err instanceof ImError)) throw err
    reply(ctx, caller, { type: 'error', ref: uploadId.slice(0, 64), error: errorBody(err) })
  }
}
