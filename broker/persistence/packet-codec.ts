import { StoreError } from '../errors.js'

/**
 * A packet as the stores keep it: aedes packets (publish, pubrel), wills and
 * retained messages. Every own field is kept, named here or not. (No index
 * signature, so aedes' and mqtt-packet's packet interfaces fit.)
 */
export interface StoredPacket {
  cmd?: string
  topic?: string
  payload?: Buffer | string
  qos?: number
  retain?: boolean
  dup?: boolean
  messageId?: number
  brokerId?: string
  brokerCounter?: number
  clientId?: string
  properties?: object
  length?: number
}

type Fields = Record<string, unknown>

// Format (version 1):
//   byte 0      version
//   byte 1      payload kind (see PAYLOAD_*)
//   bytes 2..5  header length H, uint32 big-endian
//   H bytes     JSON header: [fields without payload, keys whose value is undefined]
//   rest        payload bytes, raw
// The payload stays raw so a 256 KiB message costs 256 KiB, not the 4x of a
// JSON number array or the 1.33x of base64. The keys set to undefined are
// listed because aedes relies on them being present (a queued QoS>0 packet
// carries `messageId: undefined` until it is sent), and JSON drops them.
const VERSION = 1
const PREFIX_BYTES = 6
const PAYLOAD_NONE = 0
const PAYLOAD_BYTES = 1
const PAYLOAD_STRING = 2

type Header = [Fields, string[]]

function encode (packet: StoredPacket): Buffer {
  const fields: Record<string, unknown> = {}
  const undefinedKeys: string[] = []
  let kind = PAYLOAD_NONE
  let payload: Buffer | null = null

  for (const [key, value] of Object.entries(packet)) {
    if (key === 'payload' && (value instanceof Uint8Array || typeof value === 'string')) {
      kind = typeof value === 'string' ? PAYLOAD_STRING : PAYLOAD_BYTES
      payload = typeof value === 'string'
        ? Buffer.from(value, 'utf8')
        : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    } else if (value === undefined) {
      undefinedKeys.push(key)
    } else if (typeof value !== 'function') {
      // functions are runtime attachments (aedes' writeCallback), not data
      fields[key] = value
    }
  }

  const header = Buffer.from(JSON.stringify([fields, undefinedKeys]), 'utf8')
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES)
  prefix[0] = VERSION
  prefix[1] = kind
  prefix.writeUInt32BE(header.length, 2)
  return payload === null
    ? Buffer.concat([prefix, header])
    : Buffer.concat([prefix, header, payload])
}

function decode (value: Uint8Array): StoredPacket {
  const data = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  if (data.length < PREFIX_BYTES || data[0] !== VERSION) {
    throw new StoreError(`stored packet has unknown format version ${data[0]}`)
  }
  const kind = data[1]
  const headerEnd = PREFIX_BYTES + data.readUInt32BE(2)
  const text = data.toString('utf8', PREFIX_BYTES, headerEnd)
  // a reviver slows JSON.parse down for every value: only where a Buffer's
  // JSON shape can be (JSON.stringify writes the word as it is)
  const [fields, undefinedKeys] = (text.includes('"Buffer"') ? JSON.parse(text, reviveBuffers) : JSON.parse(text)) as Header

  const packet: Fields & StoredPacket = fields
  for (const key of undefinedKeys) packet[key] = undefined
  if (kind === PAYLOAD_BYTES) {
    // a copy, so a packet held by a client never pins or aliases the value
    // buffer the database handed us
    packet.payload = Buffer.from(data.subarray(headerEnd))
  } else if (kind === PAYLOAD_STRING) {
    packet.payload = data.toString('utf8', headerEnd)
  }
  return packet
}

// Buffers nested in fields (MQTT 5 correlationData) arrive as Buffer#toJSON
// shapes; turn them back into Buffers.
function reviveBuffers (_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' &&
      (value as { type?: unknown }).type === 'Buffer' &&
      Array.isArray((value as { data?: unknown }).data)) {
    return Buffer.from((value as { data: number[] }).data)
  }
  return value
}

/**
 * What encode() gives for a PUBLISH holding exactly these fields in this
 * order (cmd, topic, qos, retain, dup, messageId, properties) and a Buffer
 * payload, built without walking an object: the journal writes one per QoS 1
 * publish. test/broker/persistence/packet-codec.test.ts checks the bytes
 * against encode().
 */
function encodePublish (topic: string, payload: Buffer, qos: number, retain: boolean, dup: boolean, messageId?: number, properties?: object): Buffer {
  let json = '[{"cmd":"publish","topic":' + JSON.stringify(topic) + ',"qos":' + JSON.stringify(qos) +
    ',"retain":' + JSON.stringify(retain) + ',"dup":' + JSON.stringify(dup)
  if (messageId !== undefined) json += ',"messageId":' + JSON.stringify(messageId)
  if (properties !== undefined) json += ',"properties":' + JSON.stringify(properties)
  json += '},[]]'
  const headerLength = Buffer.byteLength(json, 'utf8')
  const out = Buffer.allocUnsafe(PREFIX_BYTES + headerLength + payload.length)
  out[0] = VERSION
  out[1] = PAYLOAD_BYTES
  out.writeUInt32BE(headerLength, 2)
  out.write(json, PREFIX_BYTES, 'utf8')
  payload.copy(out, PREFIX_BYTES + headerLength)
  return out
}

/** Lossless binary encoding of packets for the level stores and the journal. */
export const packetCodec = Object.freeze({ encode, decode, encodePublish })
