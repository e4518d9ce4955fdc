import { rejections, type Rejection } from './rejections.js'

/**
 * What mqtt-packet 9.0.2 (parser.js) and aedes 1.2.0 (lib/handlers/) refuse
 * on their own, recognised by message: neither gives its errors a code. Hail
 * does not check these again; it only names them for the count and the log.
 * test/broker/wire/malformed-packets.test.ts asserts the reason of every row,
 * so a reworded message fails there instead of going uncounted.
 */
const PARSER: ReadonlyArray<readonly [RegExp, Rejection]> = [
  [/^Invalid header flag bits/, rejections.headerFlags],
  [/^Packet must not have both QoS bits set to 1/, rejections.publishQos],
  [/^Not supported/, rejections.reservedType], // type 0, and type 15 (AUTH) outside MQTT 5
  [/^(Invalid|Cannot parse) protocolId/, rejections.protocolName],
  [/^Connect flag bit 0 must be 0/, rejections.connectFlags],
  [/^Will (Retain Flag|QoS) must be set to zero/, rejections.willFlags],
  [/^Invalid subscribe (topic flag bits|QoS)/, rejections.subscribeOptions],
  [/^Invalid variable byte integer/, rejections.badRemainingLength]
]

const AEDES: ReadonlyArray<readonly [RegExp, Rejection]> = [
  [/^[#+] is not allowed in PUBLISH/, rejections.publishWildcard],
  [/^empty topic not allowed in PUBLISH/, rejections.emptyTopic],
  [/^impossible to (UN)?SUBSCRIBE to an empty topic/, rejections.emptyFilter],
  [/^[#+] is only allowed in (UN)?SUBSCRIBE/, rejections.aedesInvalidFilter]
]

/**
 * The rejection behind an error a client emitted, or null when it is no
 * protocol violation (a reset socket, a timeout, a configured limit aedes
 * enforces: those are counted where the broker is built).
 */
export function classifyRejection (err: Error, fromParser: boolean): Rejection | null {
  // Every parser error is a malformed packet; the table only refines the label.
  if (fromParser) return match(PARSER, err.message) ?? rejections.malformed
  // aedes 1.2.0 handlers/index.js: `error.info` is the offending packet.
  if (err.message === 'Invalid protocol') {
    const info = (err as Error & { info?: { cmd?: unknown } }).info
    return info?.cmd === 'connect' ? rejections.secondConnect : rejections.connectFirst
  }
  return match(AEDES, err.message)
}

function match (table: ReadonlyArray<readonly [RegExp, Rejection]>, message: string): Rejection | null {
  for (const [pattern, rejection] of table) {
    if (pattern.test(message)) return rejection
  }
  return null
}
