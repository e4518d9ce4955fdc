import type { Envelope } from '../../protocol/index.js'
import type { Caller, ImContext } from './im-context.js'
import { ImError } from './im-error.js'

/** The refusal of an edit or a reaction to a recalled message. */
export const gone = (conv: string, seq: number): ImError =>
  new ImError('HAIL_ERR_GONE', `message ${seq} in ${conv} was recalled`)

/**
 * A `delete` is stored (or was, and is sent again): its target becomes a
 * tombstone in the log, with its edits, and a file that only the target
 * shared leaves the file store, and the copies of it in devices' offline
 * queues go out as tombstones (recalled-messages.ts). The file goes first, while the target
 * still names it: a crash in between leaves the target whole, and the
 * resend of the unacknowledged `delete` (a duplicate) does the rest.
 */
export async function recall (ctx: ImContext, caller: Caller, recallEnvelope: Envelope, target: Envelope): Promise<void> {
  if (target.kind === 'file' && target.deleted === undefined && ctx.files !== undefined) {
    const { fileId } = target.body as { fileId: string }
    await ctx.files.unshare(fileId, fileShareRef(target.conv, target.from, target.cid))
  }
  const deleted = { by: caller.user, seq: recallEnvelope.seq }
  // first, so that a queued copy read after the log's tombstone is written goes out as a tombstone too
  await ctx.recalled.add(target.conv, target.seq, deleted)
  await ctx.stores.log.recall(target.conv, target.seq, deleted)
}

/**
 * An edit was stored after its target passed the check: if a recall took
 * the target meanwhile (on any node), this edit is erased as well and its
 * tombstone returned (to be fanned out in its place), else undefined.
 */
export async function eraseIfRecalled (ctx: ImContext, edit: Envelope, ref: number): Promise<Envelope | undefined> {
  const target = await ctx.stores.log.get(edit.conv, ref)
  if (target?.deleted === undefined) return undefined
  // the recall looked for edits up to some seq before this one: only this one is left to erase
  await ctx.stores.log.recall(edit.conv, ref, target.deleted, { editsAfter: edit.seq - 1 })
  return await ctx.stores.log.get(edit.conv, edit.seq)
}

/** How the file index names the message that shared a file (FileMeta.refs). */
export function fileShareRef (conv: string, from: string, cid: string): string {
  return `${conv} ${from} ${cid}`
}
