import type { Redis } from 'ioredis'
import { requireUserName } from './conv-id.js'
import type { DeviceKey, KeyDirectory, PublicKey } from './key-directory.js'
import { publicKeyOf, requireDevice } from './level-key-directory.js'
import { byteOrder, RedisKeyspace, type RedisKeyspaceOptions, type RedisScript } from '../../storage/index.js'

// Keys: {prefix}keys:{user}  hash: device -> PublicKey JSON (a device id may hold any character).
const DELETE_ALL = `
local count = redis.call('HLEN', KEYS[1])
redis.call('DEL', KEYS[1])
return count
`

export type RedisKeyDirectoryOptions = RedisKeyspaceOptions

/** The key directory on Redis, one hash per user. */
export class RedisKeyDirectory implements KeyDirectory {
  readonly #space: RedisKeyspace
  readonly #deleteAll: RedisScript

  constructor (client: Redis, options: RedisKeyDirectoryOptions = {}) {
    this.#space = new RedisKeyspace(client, 'key directory', options)
    this.#deleteAll = this.#space.script(DELETE_ALL, 1)
  }

  async put (user: string, device: string, key: PublicKey): Promise<void> {
    requireUserName(user)
    requireDevice(device)
    const stored = JSON.stringify(publicKeyOf(key))
    await this.#space.write(`store a key of ${user}`, () => this.#space.client.hset(this.#key(user), device, stored))
  }

  async get (user: string, device: string): Promise<PublicKey | undefined> {
    requireUserName(user)
    requireDevice(device)
    const stored = await this.#space.read(`a key of ${user}`, () => this.#space.client.hget(this.#key(user), device))
    return stored === null ? undefined : JSON.parse(stored) as PublicKey
  }

  async list (user: string): Promise<DeviceKey[]> {
    requireUserName(user)
    const stored = await this.#space.read(`the keys of ${user}`, () => this.#space.client.hgetall(this.#key(user)))
    return Object.keys(stored).sort(byteOrder).map(device => ({ device, ...JSON.parse(stored[device]) as PublicKey }))
  }

  async delete (user: string, device: string): Promise<boolean> {
    requireUserName(user)
    requireDevice(device)
    return await this.#space.write(`delete a key of ${user}`, async () => await this.#space.client.hdel(this.#key(user), device) === 1)
  }

  async deleteAll (user: string): Promise<number> {
    requireUserName(user)
    return await this.#space.write(`delete the keys of ${user}`, async () => Number(await this.#deleteAll([this.#key(user)], [])))
  }

  async close (): Promise<void> {
    await this.#space.close()
  }

  #key (user: string): string {
    return this.#space.key('keys', user)
  }
}
