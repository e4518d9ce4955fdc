import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { createServer } from '../../index.js'
import type { CreateServerOptions } from '../../broker/server.js'

/**
 * In-process Hail nodes on one Redis, anonymous MQTT on loopback, each with
 * its own data directory; closed and removed at the end of `t`. Resolves
 * with their MQTT ports, in the order of `names`.
 */
export async function redisNodes (t: Test, redisUrl: string, names: string[], options: CreateServerOptions = {}): Promise<number[]> {
  const ports: number[] = []
  for (const name of names) {
    const dir = await mkdtemp(join(tmpdir(), `hail-node-${name}-`))
    const server = createServer({ dataDir: dir, mqttPort: 0, httpPort: null, host: '127.0.0.1', allowAnonymous: true, redis: redisUrl, ...options })
    t.teardown(async () => {
      await server.close()
      await rm(dir, { recursive: true, force: true })
    })
    ports.push((await server.listen()).mqtt!.port)
  }
  return ports
}
