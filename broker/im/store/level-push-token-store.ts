import { createHash } from 'node:crypto'
import type { GroupCommit, GroupCommitOperation, LevelDatabase } from '../../storage/index.js'
import { KeyedLock } from '../../storage/index.js'
import { requireUserName } from './conv-id.js'
import { StoreError, StoreInputError } from './errors.js'
import { LevelJson, prefixRange } from '../../storage/index.js'
import type { PushPlatform, PushToken, PushTokenStore } from './push-token-store.js'

// Keys: t!{user}!{device}!{hash} -> PushToken (the device's tokens),
//       o!{hash} -> { user, device } (who owns a token, so it can move).
// A token may hold any character, so keys carry its SHA-256 instead.
export const PLATFORMS: ReadonlySet<string> = new Set(['fcm', 'apns', 'web'])
const MAX_TOKEN = 4096
/** Tokens one device keeps; apps rotate tokens and rarely unregister the old ones. */
export const MAX_TOKENS_PER_DEVICE = 4
const DEVICE = /^[A-Za-z0-9_.-]{1,64}$/

interface Owner { user: string, device: string }

/** Push tokens on a level sublevel; writes synced through the server's group commit. */
export class LevelPushTokenStore implements PushTokenStore {
  readonly #store: LevelJson
  // One lock for all: a token moving between users touches two users' keys; registrations are rare.
  readonly #lock = new KeyedLock()
  #closed = false

  constructor (db: LevelDatabase, groupCommit: GroupCommit) {
    this.#store = new LevelJson(db, groupCommit, 'push token store')
  }

  async register (user: string, device: string, token: string, platform: PushPlatform): Promise<void> {
    requireUserName(user)
    requireDevice(device)
    requireToken(token)
    if (!PLATFORMS.has(platform)) throw new StoreInputError(`not a push platform: ${JSON.stringify(platform)}`)
    const hash = hashOf(token)
    await this.#write(async () => {
      const ops: GroupCommitOperation[] = []
      const owner = await this.#store.get<Owner>(`o!${hash}`)
      if (owner !== undefined) ops.push(this.#store.del(`t!${owner.user}!${owner.device}!${hash}`))
      const others: Array<[string, PushToken]> = []
      for await (const entry of this.#store.entries<PushToken>(prefixRange(`t!${user}!${device}!`))) {
        if (!entry[0].endsWith(`!${hash}`)) others.push(entry)
      }
      others.sort((a, b) => a[1].addedAt - b[1].addedAt)
      for (const [key, old] of others.slice(0, Math.max(0, others.length - (MAX_TOKENS_PER_DEVICE - 1)))) {
        ops.push(this.#store.del(key), this.#store.del(`o!${hashOf(old.token)}`))
      }
      ops.push(
        this.#store.put(`t!${user}!${device}!${hash}`, { device, token, platform, addedAt: Date.now() }),
        this.#store.put(`o!${hash}`, { user, device })
      )
      await this.#store.write(ops)
    })
  }

  async unregister (user: string, token: string): Promise<boolean> {
    requireUserName(user)
    requireToken(token)
    const hash = hashOf(token)
    return await this.#write(async () => {
      const owner = await this.#store.get<Owner>(`o!${hash}`)
      if (owner === undefined || owner.user !== user) return false
      await this.#store.write([this.#store.del(`t!${owner.user}!${owner.device}!${hash}`), this.#store.del(`o!${hash}`)])
      return true
    })
  }

  async unregisterDevice (user: string, device: string): Promise<number> {
    requireUserName(user)
    requireDevice(device)
    return await this.#write(async () => {
      const ops: GroupCommitOperation[] = []
      for await (const [key, stored] of this.#store.entries<PushToken>(prefixRange(`t!${user}!${device}!`))) {
        ops.push(this.#store.del(key), this.#store.del(`o!${hashOf(stored.token)}`))
      }
      await this.#store.write(ops)
      return ops.length / 2
    })
  }

  async list (user: string): Promise<PushToken[]> {
    requireUserName(user)
    const tokens: PushToken[] = []
    for await (const [, stored] of this.#store.entries<PushToken>(prefixRange(`t!${user}!`))) tokens.push(stored)
    return tokens
  }

  async close (): Promise<void> {
    this.#closed = true
    await this.#lock.idle()
    await this.#store.groupCommit.flush()
  }

  #write<T> (task: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError('the push token store is closed'))
    return this.#lock.run('tokens', task)
  }
}

export function hashOf (token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

export function requireDevice (device: unknown): void {
  if (typeof device !== 'string' || !DEVICE.test(device)) throw new StoreInputError(`not a device id: ${JSON.stringify(device)}`)
}

export function requireToken (token: unknown): void {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN) {
    throw new StoreInputError(`a push token is 1-${MAX_TOKEN} characters`)
  }
}
