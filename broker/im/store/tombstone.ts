import type { Envelope, Recall } from '../../../protocol/index.js'

// What a recall leaves of a message (docs/protocol.md, "Recall"), for every
// message log implementation.

/**
 * The tombstone of a message: id, conv, seq, from, device, cid, ts and kind
 * kept (the cid so that a resend of the recalled message stays a duplicate),
 * the body erased, `deleted` saying who recalled it. A message that refers
 * to another (an edit, a recall, a reaction) keeps only its `ref`, so
 * clients still see what it pointed at. A tombstone stays as it is.
 */
export function tombstoneOf (envelope: Envelope, deleted: Recall): Envelope {
  if (envelope.deleted !== undefined) return envelope
  const ref = refOf(envelope)
  return { ...envelope, body: ref === undefined ? null : { ref }, deleted: { by: deleted.by, seq: deleted.seq } }
}

/** Whether `envelope` is a live (not yet erased) edit of message `seq`. */
export function isLiveEditOf (envelope: Envelope, seq: number): boolean {
  return envelope.kind === 'edit' && envelope.deleted === undefined && refOf(envelope) === seq
}

function refOf (envelope: Envelope): number | undefined {
  const body = envelope.body as { ref?: unknown } | null
  return typeof body === 'object' && body !== null && typeof body.ref === 'number' ? body.ref : undefined
}
