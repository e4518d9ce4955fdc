import type { FileStore } from '../../files/file-store.js'
import type { ImContext } from '../im-context.js'
import { ImError } from '../im-error.js'
import type { CommandTable } from './command.js'

/** Uploads over MQTT (docs/protocol.md, "Files"): start or resume, status, finish. */
export const fileCommands: CommandTable = {
  async 'file.start' (ctx, caller, args) {
    return await filesOf(ctx).start(caller.user, args)
  },

  async 'file.status' (ctx, caller, { uploadId }) {
    return await filesOf(ctx).status(caller.user, uploadId)
  },

  async 'file.finish' (ctx, caller, { uploadId }) {
    const meta = await filesOf(ctx).finish(caller.user, uploadId)
    return { fileId: meta.fileId, sha256: meta.sha256, size: meta.size, name: meta.name, type: meta.type }
  }
}

function filesOf (ctx: ImContext): FileStore {
  if (ctx.files === undefined) throw new ImError('HAIL_ERR_UNKNOWN_METHOD', 'this server stores no files')
  return ctx.files
}
