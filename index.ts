/**
 * Hail's public API. Embedding:
 *
 *   import { createServer } from 'hail'
 *   const server = createServer({ dataDir: './data', allowAnonymous: true })
 *   await server.listen()
 */
export { createServer, CallServer, type ServerOptions } from './server/index.js'
export * from './broker/index.js'
export * from './bridge/index.js'
// The wire (docs/protocol.md): topics, payload types, error codes; and the validators of what devices send.
export * from './protocol/index.js'
export * from './protocol/schemas.js'
