import { ensureDirect } from '../direct.js'
import { forbidden, ImError, notFound, notMember } from '../im-error.js'
import type { Caller, ImContext } from '../im-context.js'
import { parsePayload } from '../payload.js'
import { eraseIfRecalled, fileShareRef, gone, recall } from '../recall.js'
import { errorBody, refOf, reply } from '../reply.js'
import { CONV_PATTERN, type Envelope } from '../../../protocol/index.js'
import { sendRequest, type SendRequest } from '../../../protocol/schemas.js'

export interface Sent { envelope: Envelope, duplicate: boolean }

/**
 * A message published on im/send/{conv}: validated, checked against the
 * sender's role, appended durably to the conversation's log (the engine
 * lets aedes PUBACK only after this resolves), then fanned out, and the
 * sender's device told `sent`. A resend of the same `cid` returns the stored
 * message and is not fanned out again. A refusal is told on the device's
 * reply topic; a store failure rejects (no PUBACK: the device sends again).
 * `stored` gives back the send's admission to the fan-out (fanout.ts
 * enter()) once the message is stored: handed over to its backlog.
 */
export async function handleSend (ctx: ImContext, caller: Caller, conv: string, payload: Buffer, stored?: (handing?: boolean) => void): Promise<void> {
  try {
    const { envelope, duplicate } = await storeMessage(ctx, caller, conv, payload, stored)
    stored?.()
    // QoS 0: a lost `sent` is recovered from the echo or by sync (docs/protocol.md, "Sending")
    reply(ctx, caller, { type: 'sent', cid: envelope.cid, conv: envelope.conv, seq: envelope.seq, id: envelope.id, ts: envelope.ts, duplicate }, 0)
    // backpressure: past the fan-out's bound the PUBACK waits (the message is stored already)
    await ctx.fanout.room(envelope.conv)
  } catch (err) {
    if (!(err instanceof ImError)) throw err
    reply(ctx, caller, { type: 'error', ref: refOf(payload, 'cid'), conv, error: errorBody(err) })
  }
}

/**
 * Validate, check and append a message; refusals throw ImError, store failures anything else.
 * `admission` (fanout.ts enter()) is handed to the fan-out's backlog with the message.
 */
export async function storeMessage (ctx: ImContext, caller: Caller, conv: string, payload: Buffer, admission?: (handing: boolean) => void): Promise<Sent> {
  if (!CONV_PATTERN.test(conv)) throw new ImError('HAIL_ERR_BAD_REQUEST', `${conv} is not a conversation id`)
  const request = parsePayload(sendRequest, payload, ctx.limits.maxMessageBytes)
  if (conv.startsWith('d:')) await ensureDirect(ctx, caller.user, conv)
  const role = ctx.membership.role(conv, caller.user)
  if (role === undefined) throw notMember(conv)
  if (conv.startsWith('c:') && role !== 'owner' && role !== 'admin') throw forbidden(`only owners and admins post in channel ${conv}`)
  const target = await checkReference(ctx, caller, conv, role, request)
  if (request.kind === 'file') await shareFile(ctx, caller, conv, (request.body as { fileId: string }).fileId, request.cid)

  const { envelope, duplicate } = await ctx.stores.log.append(conv, {
    from: caller.user, device: caller.device, cid: request.cid, kind: request.kind, body: request.body
  })
  // recalls and edits are rare; every other message goes on without another await
  if (request.kind === 'delete') {
    await recall(ctx, caller, envelope, target!)
  } else if (request.kind === 'edit' && !duplicate) {
    const erased = await eraseIfRecalled(ctx, envelope, target!.seq)
    if (erased !== undefined) {
      ctx.fanout.message(erased)
      throw gone(conv, target!.seq)
    }
  }
  if (!duplicate) {
    admission?.(true)
    ctx.fanout.message(envelope)
  }
  return { envelope, duplicate }
}

/**
 * Edits, recalls and reactions point at an earlier message, which must exist
 * and (for edits) be the sender's; a recalled one takes no edits nor
 * reactions, and recalling it again changes nothing (docs/protocol.md, "Recall").
 */
async function checkReference (ctx: ImContext, caller: Caller, conv: string, role: string, request: SendRequest): Promise<Envelope | undefined> {
  if (request.kind !== 'edit' && request.kind !== 'delete' && request.kind !== 'reaction') return undefined
  const ref = (request.body as { ref: number }).ref
  const target = await ctx.stores.log.get(conv, ref)
  if (target === undefined) throw notFound(`no message ${ref} in ${conv}`)
  if (request.kind === 'edit' && target.from !== caller.user) throw forbidden('only the author edits a message')
  if (request.kind === 'delete' && target.from !== caller.user && !(conv.startsWith('g:') && (role === 'owner' || role === 'admin'))) {
    throw forbidden('only the author, or a group owner or admin, recalls a message')
  }
  if (request.kind !== 'delete' && target.deleted !== undefined) throw gone(conv, ref)
  return target
}

/**
 * A file message shares the file with the conversation's members: the
 * sender must own it or have it from this conversation. The share is
 * recorded before the message is stored, so a stored message never points
 * at a file its readers may not download.
 */
async function shareFile (ctx: ImContext, caller: Caller, conv: string, fileId: string, cid: string): Promise<void> {
  if (ctx.files === undefined) throw new ImError('HAIL_ERR_BAD_REQUEST', 'this server stores no files')
  const meta = await ctx.files.index.get(fileId)
  if (meta === undefined) throw notFound(`no file ${fileId}`)
  if (meta.owner !== caller.user && !meta.convs.includes(conv)) throw forbidden(`file ${fileId} is not yours to share in ${conv}`)
  await ctx.files.index.share(fileId, conv, fileShareRef(conv, caller.user, cid))
}
