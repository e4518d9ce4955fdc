import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { createServer, type CallServer, type ServerOptions } from '../../index.js'
import { PASSWORD, RawDevice } from './im-server.js'
import type { RedisServer } from './redis-server.js'
import { waitFor } from './wait-for.js'

/** A real server with calls (bridge/create-server.ts) on loopback, with users, torn down with the test. */
export async function callServer (t: Test, users: string[], options: Partial<ServerOptions> = {}): Promise<{ server: CallServer, port: number, httpPort: number, dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-call-'))
  const server = createServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: 0, ...options })
  const { mqtt: bound, http } = await server.listen()
  t.teardown(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })
  for (const user of users) await server.users.add(user, PASSWORD)
  return { server, port: bound!.port, httpPort: http?.port ?? 0, dir }
}

/** A node of a Redis deployment with calls: its own data directory and 200 media ports from `mediaPortMin`; users live in Redis. */
export async function redisCallNode (t: Test, redis: RedisServer, mediaPortMin: number): Promise<{ server: CallServer, port: number }> {
  const { server, port } = await callServer(t, [], {
    redis: redis.url,
    calls: { mediaPortMin, mediaPortMax: mediaPortMin + 199, mediaListenAddress: '127.0.0.1', announcedAddresses: ['127.0.0.1'], statsIntervalMs: 300 }
  } as never)
  return { server, port }
}

/** Call events ({type:'call'}) a device received, optionally of one call and event. */
export function callEvents (d: RawDevice, callId?: string, event?: string): any[] {
  return d.of('call').filter((e) => (callId === undefined || e.callId === callId) && (event === undefined || e.event === event))
}

export async function waitCallEvent (d: RawDevice, callId: string, event: string, timeoutMs = 15_000): Promise<any> {
  await waitFor(() => callEvents(d, callId, event).length > 0, `${d.user}/${d.device}: call event ${event}`, timeoutMs)
  return callEvents(d, callId, event)[0]
}

/** The call record message (kind 'call') of a call, as it arrived in the device's inbox. */
export async function waitCallRecord (d: RawDevice, callId: string, timeoutMs = 15_000): Promise<any> {
  const find = (): any => d.messages().find((m) => m.kind === 'call' && m.body?.callId === callId)
  await waitFor(() => find() !== undefined, `${d.user}: record of call ${callId}`, timeoutMs)
  return find()
}

/** Error events ({type:'error', ref: callId}) on a device's reply topic. */
export function callErrors (d: RawDevice, callId: string): any[] {
  return d.of('error').filter((e) => e.ref === callId)
}

/** im/cmd/{method} that is expected to fail: resolves with the error code. */
export async function refused (d: RawDevice, method: string, args: Record<string, unknown>): Promise<string> {
  try {
    await d.request(method, args)
  } catch (err) {
    return (err as { code: string }).code
  }
  throw new Error(`${method} succeeded`)
}

export { PASSWORD, RawDevice }
