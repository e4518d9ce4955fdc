/**
 * The validators of every payload a device sends (zod), for the server;
 * the SDK imports only their types from here (docs/protocol.md).
 */
export * from './names.js'
export * from './send.js'
export * from './commands.js'
export * from './call-schemas.js'
