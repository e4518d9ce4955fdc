import type { GroupCommit, LevelDatabase } from '../../storage/index.js'
import { KeyedLock } from '../../storage/index.js'
import { requireUserName } from './conv-id.js'
import { StoreError, StoreInputError } from './errors.js'
import type { DeviceKey, KeyDirectory, PublicKey } from './key-directory.js'
import { LevelJson, prefixRange } from '../../storage/index.js'

// Keys: k!{user}!{device} -> PublicKey. The device is the last part, so it
// may hold any character, '!' included.
const TOKEN = /^[\x21-\x7e]{1,128}$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const MAX_PUBLIC_KEY = 8192
// control characters, and lone surrogates (UTF-8 would turn them all into U+FFFD)
const BAD_DEVICE_CHAR = /[\x00-\x1f\x7f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** The key directory on a level sublevel; writes synced through the server's group commit. */
export class LevelKeyDirectory implements KeyDirectory {
  readonly #store: LevelJson
  readonly #lock = new KeyedLock()
  #closed = false

  /** `db` is the directory's sublevel; `groupCommit` the server's synced group commit on the same database. */
  constructor (db: LevelDatabase, groupCommit: GroupCommit) {
    this.#store = new LevelJson(db, groupCommit, 'key directory')
  }

  async put (user: string, device: string, key: PublicKey): Promise<void> {
    requireUserName(user)
    requireDevice(device)
    const stored = publicKeyOf(key)
    await this.#write(user, () => this.#store.write([this.#store.put(`k!${user}!${device}`, stored)]))
  }

  async get (user: string, device: string): Promise<PublicKey | undefined> {
    requireUserName(user)
    requireDevice(device)
    return await this.#store.get<PublicKey>(`k!${user}!${device}`)
  }

  async list (user: string): Promise<DeviceKey[]> {
    requireUserName(user)
    const prefix = `k!${user}!`
    const keys: DeviceKey[] = []
    for await (const [key, stored] of this.#store.entries<PublicKey>(prefixRange(prefix))) {
      keys.push({ device: key.slice(prefix.length), ...stored })
    }
    return keys
  }

  async delete (user: string, device: string): Promise<boolean> {
    requireUserName(user)
    requireDevice(device)
    return await this.#write(user, async () => {
      const key = `k!${user}!${device}`
      if (await this.#store.get(key) === undefined) return false
      await this.#store.write([this.#store.del(key)])
      return true
    })
  }

  async deleteAll (user: string): Promise<number> {
    requireUserName(user)
    return await this.#write(user, async () => {
      const keys: string[] = []
      for await (const key of this.#store.keys(prefixRange(`k!${user}!`))) keys.push(key)
      await this.#store.write(keys.map(key => this.#store.del(key)))
      return keys.length
    })
  }

  async close (): Promise<void> {
    this.#closed = true
    await this.#lock.idle()
    await this.#store.groupCommit.flush()
  }

  #write<T> (user: string, task: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError('the key directory is closed'))
    return this.#lock.run(user, task)
  }
}

export function requireDevice (device: unknown): string {
  if (typeof device !== 'string' || device.length === 0 || device.length > 128 || BAD_DEVICE_CHAR.test(device)) {
    throw new StoreInputError(`not a device id: ${JSON.stringify(device)}`)
  }
  return device
}

export function publicKeyOf (key: PublicKey): PublicKey {
  if (key === null || typeof key !== 'object') throw new StoreInputError('a public key must be an object')
  const { keyId, alg, publicKey, createdAt } = key
  if (typeof keyId !== 'string' || !TOKEN.test(keyId)) throw new StoreInputError('keyId must be 1-128 printable ASCII characters')
  if (typeof alg !== 'string' || !TOKEN.test(alg) || alg.length > 64) throw new StoreInputError('alg must be 1-64 printable ASCII characters')
  if (typeof publicKey !== 'string' || publicKey.length === 0 || publicKey.length > MAX_PUBLIC_KEY || !BASE64.test(publicKey)) {
    throw new StoreInputError(`publicKey must be standard base64 of at most ${MAX_PUBLIC_KEY} characters`)
  }
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt)) throw new StoreInputError('createdAt must be a number of ms')
  // only the known fields: what is stored is exactly what list() gives back
  return { keyId, alg, publicKey, createdAt }
}
