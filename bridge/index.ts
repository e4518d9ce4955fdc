/** bridge/: call signaling between the broker's IM engine and the media relay. Other parts import only this file. */
export { createServer, parseCallsConfig, type CallServer, type ServerOptions } from './create-server.js'
export { CallBridge, type CallBridgeEvents, type CallBridgeOptions } from './call-bridge.js'
export { Call, deviceId, type CallEffect, type CallInit, type Party } from './call.js'
export { LocalCallOwnership, type CallOwnership } from './call-ownership.js'
export { callsSchema, type CallsConfig, type CallsConfigInput } from './calls-config.js'
export { callCommands, signalSchema, callTopics, CALL_ID_PATTERN, MAX_SIGNAL_BYTES } from './call-protocol.js'
export type { CallEventName, CallMedia, CallMode, CallSignal, EndReason } from './call-protocol.js'
export type { CallRecord, TrackQuality } from './call-record.js'
