/** bridge/: call signaling between the broker's IM engine and the media relay. Other parts import only this file. */
export { CallBridge, type CallBridgeEvents, type CallBridgeOptions } from './call-bridge.js'
export { Call, deviceId, type CallEffect, type CallInit, type Party } from './call.js'
export { LocalCallOwnership, type CallAction, type CallEmitter, type CallFacts, type CallOwnership, type OwnerHandlers } from './call-ownership.js'
export { RedisCallOwnership, type RedisCallOwnershipOptions } from './redis-call-ownership.js'
export { callsSchema, parseCallsConfig, type CallsConfig, type CallsConfigInput } from './calls-config.js'
export { createMediaRooms } from './media-rooms.js'
export type { MediaRooms, MediaRoom, MediaPeer } from './media-port.js'
