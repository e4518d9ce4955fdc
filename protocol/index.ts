/**
 * protocol/: the wire between Hail and its devices (docs/protocol.md) —
 * every topic, payload and error code of IM and calls, shared by the server
 * (broker/, bridge/) and the client SDK (client/).
 *
 * This entry holds names, types, constants and topics, and imports nothing:
 * the SDK loads it in browsers as is. The validators (zod) are in
 * ./schemas.ts, for the server; the SDK takes only types from there.
 */
export * from './ids.js'
export * from './events.js'
export * from './error-codes.js'
export * from './topics.js'
export * from './calls.js'
