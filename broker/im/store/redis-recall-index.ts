import type { Redis } from 'ioredis'
import { recallInput } from './draft-input.js'
import type { Recall } from './message-log.js'
import type { RecallIndex, RecalledMessage } from './recall-index.js'
import { RedisKeyspace, type RedisKeyspaceOptions } from '../../storage/index.js'

// Keys: {prefix}recalled  hash: "{conv} {seq}" -> Recall JSON (conv ids hold no space).

/** The recall index on Redis, one hash for the deployment: every node reads it before a drain. */
export class RedisRecallIndex implements RecallIndex {
  readonly #space: RedisKeyspace

  constructor (client: Redis, options: RedisKeyspaceOptions = {}) {
    this.#space = new RedisKeyspace(client, 'recall index', options)
  }

  async add (conv: string, seq: number, deleted: Recall): Promise<void> {
    const { mark } = recallInput(conv, seq, deleted, {})
    await this.#space.write(`record the recall of ${conv}/${seq}`, () => this.#space.client.hsetnx(this.#key(), `${conv} ${seq}`, JSON.stringify(mark)))
  }

  async list (): Promise<RecalledMessage[]> {
    const stored = await this.#space.read('the recall index', () => this.#space.client.hgetall(this.#key()))
    return Object.entries(stored).map(([field, value]) => {
      const space = field.lastIndexOf(' ')
      return { conv: field.slice(0, space), seq: Number(field.slice(space + 1)), deleted: JSON.parse(value) as Recall }
    })
  }

  async size (): Promise<number> {
    return await this.#space.read('the size of the recall index', () => this.#space.client.hlen(this.#key()))
  }

  async close (): Promise<void> {
    await this.#space.close()
  }

  #key (): string {
    return this.#space.key('recalled')
  }
}
