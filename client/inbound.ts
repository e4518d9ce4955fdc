import type { Envelope, ServerEvent } from '../protocol/index.js'

const decoder = new TextDecoder()

type Check = (value: Record<string, unknown>) => boolean

const isString = (v: unknown): v is string => typeof v === 'string'
const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isRef = (v: unknown): boolean => v === null || isString(v)
const isErrorBody = (v: unknown): boolean => isObject(v) && isString(v.code) && isString(v.message)

/** Whether `value` has what the SDK relies on in a stored message. */
export function isEnvelope (value: unknown): value is Envelope {
  return isObject(value) && isString(value.id) && isString(value.conv) && isSeq(value.seq) && value.seq >= 1 &&
    isString(value.from) && isString(value.kind) && isSeq(value.ts)
}

/**
 * The fields the SDK reads, per event type; anything else passes through
 * untouched, so a newer server's additions reach the app (docs/protocol.md,
 * "Versioning").
 */
const checks: Record<ServerEvent['type'], Check> = {
  message: (e) => isEnvelope(e.msg),
  receipt: (e) => isString(e.conv) && isString(e.user) && isSeq(e.delivered) && isSeq(e.read),
  typing: (e) => isString(e.conv) && isString(e.from) && typeof e.typing === 'boolean',
  presence: (e) => isString(e.user) && isString(e.status),
  conversation: (e) => isString(e.conv) && isString(e.event),
  sent: (e) => isString(e.cid) && isString(e.conv) && isSeq(e.seq) && isString(e.id) && isSeq(e.ts),
  error: (e) => isRef(e.ref) && isErrorBody(e.error),
  result: (e) => isRef(e.req) && (e.ok === true ? 'result' in e : e.ok === false && isErrorBody(e.error))
}

/** A payload from the server → its event, or a reason it is not one. */
export function parseServerEvent (payload: Uint8Array): { event: ServerEvent } | { problem: string } {
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(payload))
  } catch {
    return { problem: 'not JSON' }
  }
  if (!isObject(value)) return { problem: 'not a JSON object' }
  if (value.v !== 1 && value.v !== 2) return { problem: `protocol version ${String(value.v)}, expected 1 or 2` }
  const type = value.type
  if (!isString(type) || !Object.hasOwn(checks, type)) return { problem: `unknown type ${String(type)}` }
  if (!checks[type as ServerEvent['type']](value)) return { problem: `a ${type} without the fields of protocol v${String(value.v)}` }
  return { event: value as unknown as ServerEvent }
}

/** The event without its `v` and `type`: what the client's listeners get. */
export function eventBody<E extends ServerEvent> (event: E): Omit<E, 'v' | 'type'> {
  const copy: Record<string, unknown> = { ...event }
  delete copy.v
  delete copy.type
  return copy as Omit<E, 'v' | 'type'>
}
