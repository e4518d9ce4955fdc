/** backend/: where a node keeps its state — embedded (level) or Redis — behind one interface. */
import type { Backend, BackendOptions } from './backend.js'
import { EmbeddedBackend } from './embedded-backend.js'
import { RedisBackend } from './redis-backend.js'

export type { Backend, BackendOptions, BackendStart } from './backend.js'
export { EmbeddedBackend } from './embedded-backend.js'
export { RedisBackend } from './redis-backend.js'
export { DataDir } from './data-dir.js'

/** The backend the config asks for: Redis when `redis` is set, else the embedded one (README, "Scale out"). */
export async function openBackend (options: BackendOptions): Promise<Backend> {
  return options.config.redis === null ? await EmbeddedBackend.open(options) : await RedisBackend.open(options)
}
