import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { requireConvId } from './conv-id.js'
import { StoreError, StoreInputError } from './errors.js'
import { normalizeDraft, readLimit, recallInput, requireSeq } from './draft-input.js'
import {
  type AppendResult, type Draft, type Envelope, type MessageLog, type PruneOptions, type ReadOptions, type ReadResult, type Recall, type RecallOptions
} from './message-log.js'
import { isLiveEditOf, tombstoneOf } from './tombstone.js'
import { RedisKeyspace, type RedisKeyspaceOptions, type RedisScript } from '../../storage/index.js'

// Keys per conversation (conv ids hold only [a-z0-9_.:-]):
//   {prefix}log:{conv}     hash: last (the counter), pruned (the highest seq ever pruned)
//   {prefix}log:{conv}:m   hash: seq -> "{from} {cid}\n{ts}\n{envelope JSON}"
//   {prefix}log:{conv}:i   hash: "{from} {cid}" -> "{seq} {nonce}"
// A message, its idempotency key and the counter change in one script, so
// every node sharing the Redis sees a gapless log; nothing about a
// conversation is kept in this process. The header in front of the JSON lets
// prune find the idempotency key and the age without decoding the body.
const PRUNE_CHUNK = 1000

const APPEND = `
local stored = redis.call('HGET', KEYS[3], ARGV[1])
if stored then
  local sep = string.find(stored, ' ', 1, true)
  local value = redis.call('HGET', KEYS[2], string.sub(stored, 1, sep - 1))
  if value then
    if string.sub(stored, sep + 1) == ARGV[2] then return { 'mine', value } end
    return { 'dup', value }
  end
end
local seq = tostring(redis.call('HINCRBY', KEYS[1], 'last', 1))
local ts = ARGV[6]
if ts == '' then
  local now = redis.call('TIME')
  ts = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
end
local json = ARGV[3] .. seq .. ARGV[4] .. seq .. ARGV[5] .. ts .. ARGV[7]
redis.call('HSET', KEYS[2], seq, ARGV[1] .. '\\n' .. ts .. '\\n' .. json)
redis.call('HSET', KEYS[3], ARGV[1], seq .. ' ' .. ARGV[2])
return { 'new', seq, ts }
`

const READ = `
local meta = redis.call('HMGET', KEYS[1], 'last', 'pruned')
local last = tonumber(meta[1]) or 0
local pruned = tonumber(meta[2]) or 0
local first = math.max(tonumber(ARGV[1]), pruned) + 1
local upto = math.min(last, first + tonumber(ARGV[2]) - 1)
local out = { tostring(last), tostring(pruned) }
if first <= upto then
  local seqs = {}
  for seq = first, upto do seqs[#seqs + 1] = tostring(seq) end
  local values = redis.call('HMGET', KEYS[2], unpack(seqs))
  for i = 1, #values do out[#out + 1] = values[i] end
end
return out
`

const PRUNE = `
local meta = redis.call('HMGET', KEYS[1], 'last', 'pruned')
local last = tonumber(meta[1]) or 0
local pruned = tonumber(meta[2]) or 0
local byCount = 0
if ARGV[1] ~= '' then byCount = last - tonumber(ARGV[1]) end
local cutoff = tonumber(ARGV[2])
local chunk = tonumber(ARGV[3])
local removed = 0
local seq = pruned
while seq < last and removed < chunk do
  local field = tostring(seq + 1)
  local value = redis.call('HGET', KEYS[2], field)
  if value then
    local nl = string.find(value, '\\n', 1, true)
    local ts = tonumber(string.sub(value, nl + 1, string.find(value, '\\n', nl + 1, true) - 1))
    if seq + 1 > byCount and not (cutoff and ts < cutoff) then break end
    redis.call('HDEL', KEYS[2], field)
    redis.call('HDEL', KEYS[3], string.sub(value, 1, nl - 1))
    removed = removed + 1
  end
  seq = seq + 1
end
if seq > pruned then redis.call('HSET', KEYS[1], 'pruned', tostring(seq)) end
if removed == chunk and seq < last then return { removed, 1 } end
return { removed, 0 }
`

// A recall's overwrites: each field is set only while it still holds the value
// the tombstone was made from, so a message pruned or changed meanwhile is
// never brought back or overwritten with an older view. ARGV: field, old, new, ...
const SWAP = `
local out = {}
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`

const RECALL_SCAN_PAGE = 500

export type RedisMessageLogOptions = RedisKeyspaceOptions

/**
 * The conversation log on Redis, for several nodes sharing it. Each append
 * is one Lua script: it checks the idempotency key, takes the next seq from
 * the conversation's counter and stores the message and its key, so two
 * nodes appending to one conversation get consecutive seqs, and a resend of
 * (conv, from, cid) from any node returns the stored envelope. Appends from
 * this process reach Redis in call order over the one connection, so they
 * get seqs in call order. A message's `ts`, unless given, is Redis' clock,
 * the one clock every node shares. A promise resolves once Redis replied,
 * which under `appendfsync always` means the AOF is synced.
 */
export class RedisMessageLog implements MessageLog {
  readonly #space: RedisKeyspace
  readonly #append: RedisScript
  readonly #read: RedisScript
  readonly #prune: RedisScript
  readonly #swap: RedisScript

  constructor (client: Redis, options: RedisMessageLogOptions = {}) {
    this.#space = new RedisKeyspace(client, 'message log', options)
    this.#append = this.#space.script(APPEND, 3)
    this.#read = this.#space.script(READ, 2)
    this.#prune = this.#space.script(PRUNE, 3)
    this.#swap = this.#space.script(SWAP, 1)
  }

  append (conv: string, draft: Draft): Promise<AppendResult> {
    try {
      requireConvId(conv)
      const { from, device, cid, kind, body, ts } = normalizeDraft(draft)
      // the envelope's JSON around the seq and ts the script fills in, in the
      // field order of the level log: id, conv, seq, from, device, cid, ts, kind, body
      const idField = `${from} ${cid}`
      // a resend of this very call after a lost reply (ioredis may resend) is no duplicate
      const nonce = randomBytes(9).toString('base64url')
      const args = [
        idField, nonce,
        `{"id":"${conv}/`, `","conv":"${conv}","seq":`,
        `,"from":${JSON.stringify(from)},"device":${JSON.stringify(device)},"cid":${JSON.stringify(cid)},"ts":`,
        ts === undefined ? '' : JSON.stringify(ts),
        `,"kind":${JSON.stringify(kind)},"body":${JSON.stringify(body)}}`
      ]
      return this.#space.write(`append to ${conv}`, async () => {
        const reply = await this.#append(this.#keys(conv), args) as [string, string | number, string?]
        if (reply[0] !== 'new') return { envelope: envelopeOf(String(reply[1])), duplicate: reply[0] === 'dup' }
        const seq = Number(reply[1])
        const envelope: Envelope = { id: `${conv}/${seq}`, conv, seq, from, device, cid, ts: Number(reply[2]), kind, body }
        return { envelope, duplicate: false }
      })
    } catch (err) {
      return Promise.reject(err)
    }
  }

  async read (conv: string, options: ReadOptions): Promise<ReadResult> {
    requireConvId(conv)
    const after = requireSeq(options.after, 'after')
    const limit = readLimit(options.limit)
    const reply = await this.#space.read(`the log of ${conv}`, () => this.#read(this.#keys(conv).slice(0, 2), [after, limit])) as Array<string | null>
    const lastSeq = Number(reply[0])
    const firstSeq = Number(reply[1]) + 1
    const messages: Envelope[] = []
    for (const value of reply.slice(2)) {
      if (value === null) throw new StoreError(`the log of ${conv} has a hole after seq ${messages.at(-1)?.seq ?? after}`)
      messages.push(envelopeOf(value))
    }
    const newest = messages.at(-1)?.seq ?? Math.max(after, firstSeq - 1)
    return { messages, more: newest < lastSeq, lastSeq, firstSeq }
  }

  async lastSeq (conv: string): Promise<number> {
    requireConvId(conv)
    const last = await this.#space.read(`the log of ${conv}`, () => this.#space.client.hget(this.#keys(conv)[0], 'last'))
    return last === null ? 0 : Number(last)
  }

  async get (conv: string, seq: number): Promise<Envelope | undefined> {
    requireConvId(conv)
    requireSeq(seq, 'seq')
    if (seq < 1) return undefined
    const value = await this.#space.read(`the log of ${conv}`, () => this.#space.client.hget(this.#keys(conv)[1], String(seq)))
    return value === null ? undefined : envelopeOf(value)
  }

  /**
   * The target first, then the edits found by reading the log after it, page
   * by page (any node may append meanwhile: an edit appended after its page
   * was read finds the target a tombstone, and its sender recalls again).
   */
  recall (conv: string, seq: number, deleted: Recall, options: RecallOptions = {}): Promise<Envelope | undefined> {
    try {
      const { mark, editsAfter } = recallInput(conv, seq, deleted, options)
      const [meta, messages] = this.#keys(conv)
      return this.#space.write(`recall ${conv}/${seq}`, async () => {
        let tombstone: Envelope | undefined
        for (;;) {
          const value = seq < 1 ? null : await this.#space.client.hget(messages, String(seq))
          if (value === null) return undefined
          const target = envelopeOf(value)
          tombstone = tombstoneOf(target, mark)
          if (tombstone === target) break
          const [swapped] = await this.#swap([messages], [String(seq), value, withEnvelope(value, tombstone)]) as number[]
          if (swapped === 1) break // else changed meanwhile (recalled on another node, or pruned): look again
        }
        const by = tombstone.deleted ?? mark
        let after = editsAfter
        for (;;) {
          const reply = await this.#read([meta, messages], [after, RECALL_SCAN_PAGE]) as Array<string | null>
          const values = reply.slice(2)
          const swaps: string[] = []
          for (const value of values) {
            if (value === null) continue
            const envelope = envelopeOf(value)
            after = envelope.seq
            if (isLiveEditOf(envelope, seq)) swaps.push(String(envelope.seq), value, withEnvelope(value, tombstoneOf(envelope, by)))
          }
          // an edit that changed meanwhile was erased by a recall running beside this one
          if (swaps.length > 0) await this.#swap([messages], swaps)
          if (values.length < RECALL_SCAN_PAGE || after >= Number(reply[0])) break
        }
        return tombstone
      })
    } catch (err) {
      return Promise.reject(err)
    }
  }

  prune (conv: string, options: PruneOptions): Promise<number> {
    try {
      requireConvId(conv)
      if (options.maxCount !== undefined) requireSeq(options.maxCount, 'maxCount')
      if (options.maxAgeMs !== undefined && !(Number.isFinite(options.maxAgeMs) && options.maxAgeMs >= 0)) {
        throw new StoreInputError(`maxAgeMs must be a number >= 0, not ${String(options.maxAgeMs)}`)
      }
      if (options.now !== undefined && !Number.isFinite(options.now)) throw new StoreInputError('now must be a number')
      if (options.maxCount === undefined && options.maxAgeMs === undefined) return Promise.resolve(0)
      const { maxCount, maxAgeMs, now = Date.now() } = options
      const args = [maxCount === undefined ? '' : String(maxCount), maxAgeMs === undefined ? '' : String(now - maxAgeMs), PRUNE_CHUNK]
      return this.#space.write(`prune ${conv}`, async () => {
        let removed = 0
        // chunk by chunk, so appends to the conversation get their turn in between
        for (;;) {
          const [count, more] = await this.#prune(this.#keys(conv), args) as [number, number]
          removed += count
          if (more === 0) return removed
        }
      })
    } catch (err) {
      return Promise.reject(err)
    }
  }

  async close (): Promise<void> {
    await this.#space.close()
  }

  #keys (conv: string): string[] {
    const meta = this.#space.key('log', conv)
    return [meta, `${meta}:m`, `${meta}:i`]
  }
}

/** A stored value with its envelope replaced, the header (from, cid, ts) kept. */
function withEnvelope (value: string, envelope: Envelope): string {
  return value.slice(0, value.indexOf('\n', value.indexOf('\n') + 1) + 1) + JSON.stringify(envelope)
}

/** The envelope from a stored value: JSON after a two-line header. */
function envelopeOf (value: string): Envelope {
  const start = value.indexOf('\n', value.indexOf('\n') + 1) + 1
  return JSON.parse(value.slice(start)) as Envelope
}
