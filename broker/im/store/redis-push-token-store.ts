import type { Redis } from 'ioredis'
import { requireUserName } from './conv-id.js'
import { StoreInputError } from './errors.js'
import { hashOf, MAX_TOKENS_PER_DEVICE, PLATFORMS, requireDevice, requireToken } from './level-push-token-store.js'
import type { PushPlatform, PushToken, PushTokenStore } from './push-token-store.js'
import { RedisKeyspace, type RedisKeyspaceOptions, type RedisScript } from '../../storage/index.js'

// Keys: {prefix}push:{user}    hash: "{device}!{sha256 of token}" -> "{addedAt} {platform} {token}"
//       {prefix}push-owners    hash: sha256 of token -> "{user} {device}"
// Device ids hold [A-Za-z0-9_.-] and user names no space, so the separators
// are unambiguous; the token comes last and may hold anything.

// KEYS: owners, the user's hash. ARGV: hash, user, device, platform, token,
// max per device, the raw prefix of user hashes (a token may move from a
// user whose key only the owner entry names).
const REGISTER = `
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner then
  local space = string.find(owner, ' ', 1, true)
  redis.call('HDEL', ARGV[7] .. string.sub(owner, 1, space - 1), string.sub(owner, space + 1) .. '!' .. ARGV[1])
end
local mine = ARGV[3] .. '!'
local field = mine .. ARGV[1]
local stored = redis.call('HGETALL', KEYS[2])
local others = {}
for i = 1, #stored, 2 do
  if string.sub(stored[i], 1, #mine) == mine and stored[i] ~= field then
    others[#others + 1] = { stored[i], tonumber(string.match(stored[i + 1], '^[^ ]+')) }
  end
end
table.sort(others, function (a, b) return a[2] < b[2] end)
for i = 1, #others - (tonumber(ARGV[6]) - 1) do
  redis.call('HDEL', KEYS[2], others[i][1])
  redis.call('HDEL', KEYS[1], string.sub(others[i][1], #mine + 1))
end
local now = redis.call('TIME')
local addedAt = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
redis.call('HSET', KEYS[2], field, addedAt .. ' ' .. ARGV[4] .. ' ' .. ARGV[5])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
return 1
`

const UNREGISTER = `
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if not owner then return 0 end
local space = string.find(owner, ' ', 1, true)
if string.sub(owner, 1, space - 1) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], string.sub(owner, space + 1) .. '!' .. ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`

const UNREGISTER_DEVICE = `
local mine = ARGV[1] .. '!'
local fields = redis.call('HKEYS', KEYS[2])
local count = 0
for i = 1, #fields do
  if string.sub(fields[i], 1, #mine) == mine then
    redis.call('HDEL', KEYS[2], fields[i])
    redis.call('HDEL', KEYS[1], string.sub(fields[i], #mine + 1))
    count = count + 1
  end
end
return count
`

export type RedisPushTokenStoreOptions = RedisKeyspaceOptions

/**
 * Push tokens on Redis. Each change is one script, so a token moving between
 * users (registered again on a handed-over phone) moves atomically whichever
 * node registers it; `addedAt` is Redis' clock, so "the oldest go first"
 * means the same on every node.
 */
export class RedisPushTokenStore implements PushTokenStore {
  readonly #space: RedisKeyspace
  readonly #register: RedisScript
  readonly #unregister: RedisScript
  readonly #unregisterDevice: RedisScript

  constructor (client: Redis, options: RedisPushTokenStoreOptions = {}) {
    this.#space = new RedisKeyspace(client, 'push token store', options)
    this.#register = this.#space.script(REGISTER, 2)
    this.#unregister = this.#space.script(UNREGISTER, 2)
    this.#unregisterDevice = this.#space.script(UNREGISTER_DEVICE, 2)
  }

  async register (user: string, device: string, token: string, platform: PushPlatform): Promise<void> {
    requireUserName(user)
    requireDevice(device)
    requireToken(token)
    if (!PLATFORMS.has(platform)) throw new StoreInputError(`not a push platform: ${JSON.stringify(platform)}`)
    const args = [hashOf(token), user, device, platform, token, MAX_TOKENS_PER_DEVICE, this.#space.rawPrefix + 'push:']
    await this.#space.write(`register a push token of ${user}`, () => this.#register(this.#keys(user), args))
  }

  async unregister (user: string, token: string): Promise<boolean> {
    requireUserName(user)
    requireToken(token)
    return await this.#space.write(`unregister a push token of ${user}`, async () =>
      await this.#unregister(this.#keys(user), [hashOf(token), user]) === 1)
  }

  async unregisterDevice (user: string, device: string): Promise<number> {
    requireUserName(user)
    requireDevice(device)
    return await this.#space.write(`unregister the push tokens of ${user}/${device}`, async () =>
      Number(await this.#unregisterDevice(this.#keys(user), [device])))
  }

  async list (user: string): Promise<PushToken[]> {
    requireUserName(user)
    const stored = await this.#space.read(`the push tokens of ${user}`, () => this.#space.client.hgetall(this.#keys(user)[1]))
    return Object.keys(stored).sort().map((field) => {
      const value = stored[field]
      const first = value.indexOf(' ')
      const second = value.indexOf(' ', first + 1)
      return {
        device: field.slice(0, field.indexOf('!')),
        token: value.slice(second + 1),
        platform: value.slice(first + 1, second) as PushPlatform,
        addedAt: Number(value.slice(0, first))
      }
    })
  }

  async close (): Promise<void> {
    await this.#space.close()
  }

  #keys (user: string): [string, string] {
    return [this.#space.key('push-owners'), this.#space.key('push', user)]
  }
}
