import { once } from 'node:events'
import { connect, createServer, type AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { Redis } from 'ioredis'
import { REDIS_STORE_CLIENT_OPTIONS } from '../../../../broker/storage/index.js'
import { RedisServer } from '../../../helpers/redis-server.js'
import type { Closable, StoreFactory } from './store-fixture.js'

/** One real redis-server for a test file (AOF, appendfsync always), stopped when `t` ends. */
export async function startRedis (t: Test): Promise<RedisServer> {
  const server = await RedisServer.start()
  t.teardown(() => server.stop())
  return server
}

/** A client as the server would make one, with the options the stores recommend; `t` quits it. */
export function redisClient (t: Test, server: RedisServer): Redis {
  const client = new Redis(server.url, { ...REDIS_STORE_CLIENT_OPTIONS })
  client.on('error', () => {}) // reconnects are expected in these tests; failures show up as rejected commands
  t.teardown(() => { client.disconnect() })
  return client
}

let prefixes = 0

/**
 * A Redis factory: every fixture gets a key prefix of its own on the file's
 * one server, so tests share the server and never see each other's keys.
 * restart() is a crash of Redis itself: the store and its client go, the
 * redis-server is killed with SIGKILL and started again on its AOF, and a new
 * client and store open the same prefix.
 */
export function redisFactory<S extends Closable> (
  server: () => RedisServer,
  make: (client: Redis, prefix: string) => S
): StoreFactory<S> {
  return async (t) => {
    const prefix = `test${++prefixes}:`
    let client = redisClient(t, server())
    const fixture = {
      store: make(client, prefix),
      async restart () {
        await fixture.store.close()
        client.disconnect()
        await server().restart()
        client = redisClient(t, server())
        fixture.store = make(client, prefix)
        return fixture.store
      }
    }
    t.teardown(() => fixture.store.close().catch(() => {}))
    return fixture
  }
}

export interface ReplyDroppingProxy {
  /** The next bytes Redis sends are swallowed and both connections cut. */
  arm: () => void
  /** Whether armed and not yet fired. */
  readonly armed: boolean
  /** A client through the proxy with ioredis' default options (it sends unanswered commands again after reconnecting). */
  client: () => Redis
}

/**
 * A TCP proxy in front of `server` that, once armed, loses the reply to the
 * next command (after Redis ran it) and cuts the connection: the case a
 * resent command must not be mistaken for a second one.
 */
export async function replyDroppingProxy (t: Test, server: RedisServer): Promise<ReplyDroppingProxy> {
  let armed = false
  const proxy = createServer((socket) => {
    const upstream = connect(server.port, '127.0.0.1')
    socket.on('error', () => {})
    upstream.on('error', () => {})
    socket.pipe(upstream)
    upstream.on('data', (data: Buffer) => {
      if (!armed) {
        socket.write(data)
        return
      }
      armed = false
      socket.destroy()
      upstream.destroy()
    })
    socket.on('close', () => upstream.destroy())
  })
  proxy.listen(0, '127.0.0.1')
  await once(proxy, 'listening')
  t.teardown(() => { proxy.close() })
  return {
    arm: () => { armed = true },
    get armed () { return armed },
    client: () => {
      const client = new Redis((proxy.address() as AddressInfo).port, '127.0.0.1')
      client.on('error', () => {})
      t.teardown(() => { client.disconnect() })
      return client
    }
  }
}
