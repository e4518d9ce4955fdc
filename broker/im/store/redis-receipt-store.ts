import type { Redis } from 'ioredis'
import { requireConvId, requireUserName } from './conv-id.js'
import { StoreInputError } from './errors.js'
import type { Receipt, ReceiptKind, ReceiptStore } from './receipt-store.js'
import { RedisKeyspace, type RedisKeyspaceOptions, type RedisScript } from '../../storage/index.js'

// Keys: {prefix}rcpt:{conv}  hash: user -> "{delivered} {read}"
// The compare and the write are one script: advances from every node race
// safely and a receipt never goes backwards.
const ADVANCE = `
local stored = redis.call('HGET', KEYS[1], ARGV[1])
local delivered, read = '0', '0'
if stored then
  local space = string.find(stored, ' ', 1, true)
  delivered, read = string.sub(stored, 1, space - 1), string.sub(stored, space + 1)
end
local seq = tonumber(ARGV[3])
if ARGV[2] == 'read' then
  if seq <= tonumber(read) then return 0 end
  read = ARGV[3]
  if seq > tonumber(delivered) then delivered = ARGV[3] end
else
  if seq <= tonumber(delivered) then return 0 end
  delivered = ARGV[3]
end
redis.call('HSET', KEYS[1], ARGV[1], delivered .. ' ' .. read)
return 1
`

export type RedisReceiptStoreOptions = RedisKeyspaceOptions

/** Receipts on Redis, one hash per conversation; no cache, so every node compares against the same value. */
export class RedisReceiptStore implements ReceiptStore {
  readonly #space: RedisKeyspace
  readonly #advance: RedisScript

  constructor (client: Redis, options: RedisReceiptStoreOptions = {}) {
    this.#space = new RedisKeyspace(client, 'receipt store', options)
    this.#advance = this.#space.script(ADVANCE, 1)
  }

  async advance (conv: string, user: string, kind: ReceiptKind, seq: number): Promise<boolean> {
    requireConvId(conv)
    requireUserName(user)
    if (kind !== 'delivered' && kind !== 'read') throw new StoreInputError(`not a receipt kind: ${JSON.stringify(kind)}`)
    if (!Number.isSafeInteger(seq) || seq < 0) throw new StoreInputError(`a receipt seq must be an integer >= 0, not ${String(seq)}`)
    return await this.#space.write(`advance a receipt in ${conv}`, async () => await this.#advance([this.#key(conv)], [user, kind, String(seq)]) === 1)
  }

  async get (conv: string, user: string): Promise<Receipt> {
    requireConvId(conv)
    requireUserName(user)
    const stored = await this.#space.read(`a receipt in ${conv}`, () => this.#space.client.hget(this.#key(conv), user))
    return stored === null ? { delivered: 0, read: 0 } : receiptOf(stored)
  }

  async ofConversation (conv: string): Promise<Map<string, Receipt>> {
    requireConvId(conv)
    const stored = await this.#space.read(`the receipts of ${conv}`, () => this.#space.client.hgetall(this.#key(conv)))
    return new Map(Object.keys(stored).sort().map(user => [user, receiptOf(stored[user])]))
  }

  async drop (conv: string): Promise<void> {
    requireConvId(conv)
    await this.#space.write(`drop the receipts of ${conv}`, () => this.#space.client.unlink(this.#key(conv)))
  }

  async close (): Promise<void> {
    await this.#space.close()
  }

  #key (conv: string): string {
    return this.#space.key('rcpt', conv)
  }
}

function receiptOf (stored: string): Receipt {
  const space = stored.indexOf(' ')
  return { delivered: Number(stored.slice(0, space)), read: Number(stored.slice(space + 1)) }
}
