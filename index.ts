/**
 * Hail's public API. Embedding:
 *
 *   import { createServer } from 'hail'
 *   const server = createServer({ dataDir: './data', allowAnonymous: true })
 *   await server.listen()
 */
export * from './broker/index.js'
// With calls: the broker plus the call bridge and its media relay (this createServer wins over the broker's).
export { createServer } from './bridge/index.js'
export * from './bridge/index.js'
