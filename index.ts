/**
 * Hail's public API. Embedding:
 *
 *   import { createServer } from 'hail'
 *   const server = createServer({ dataDir: './data', allowAnonymous: true })
 *   await server.listen()
 */
export * from './broker/index.js'
