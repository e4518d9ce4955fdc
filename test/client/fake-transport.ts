import type { Transport, TransportEvents } from '../../client/transport.js'

export interface Published { topic: string, payload: any, qos: 0 | 1 }

type Handler = (args: any, publish: Published) => unknown

/**
 * A Transport with no network, for the client's logic: it records what the
 * client publishes and subscribes, lets a test inject what a server would
 * send, and answers im/cmd requests from `handlers` (a method without one
 * gets no answer, so timeouts can be tested).
 */
export class FakeTransport implements Transport {
  readonly published: Published[] = []
  readonly subscriptions: string[][] = []
  readonly unsubscriptions: string[][] = []
  /** Filters the broker refuses (SUBACK 0x80). */
  readonly refuse = new Set<string>()
  readonly handlers: Record<string, Handler> = {}
  /** What the broker delivers right after CONNACK, before the client could subscribe (a resumed session's queue). */
  queued: Array<[string, unknown]> = []
  sessionPresent = false
  closed = false
  readonly #listeners: { [K in keyof TransportEvents]?: Array<(...args: TransportEvents[K]) => void> } = {}

  constructor (readonly user = 'alice', readonly device = 'phone') {
    // as a server before sync.all: the client falls back to conversations + a sync each (a test may serve it)
    this.handlers['sync.all'] = () => { throw Object.assign(new Error('no method sync.all'), { code: 'HAIL_ERR_UNKNOWN_METHOD' }) }
  }

  on<K extends keyof TransportEvents> (event: K, listener: (...args: TransportEvents[K]) => void): void {
    ((this.#listeners[event] ??= []) as Array<typeof listener>).push(listener)
  }

  async open (): Promise<{ sessionPresent: boolean }> {
    this.connectAgain()
    return { sessionPresent: this.sessionPresent }
  }

  /** A (re)connection: CONNACK, then whatever the session had queued. */
  connectAgain (): void {
    this.#emit('connect', { sessionPresent: this.sessionPresent })
    for (const [topic, event] of this.queued.splice(0)) this.deliver(topic, event)
  }

  dropConnection (): void {
    this.#emit('disconnect')
  }

  async publish (topic: string, payload: string | Uint8Array, qos: 0 | 1): Promise<void> {
    if (this.closed) throw new Error('client disconnecting')
    const p: Published = { topic, payload: typeof payload === 'string' ? JSON.parse(payload) : payload, qos }
    this.published.push(p)
    const method = /^im\/cmd\/(.+)$/.exec(topic)?.[1]
    const handler = method === undefined ? undefined : this.handlers[method]
    if (handler !== undefined) {
      setImmediate(() => {
        const req = p.payload.req
        try {
          this.reply({ type: 'result', req, ok: true, result: handler(p.payload, p) })
        } catch (err) {
          const e = err as { code?: string, message: string }
          this.reply({ type: 'result', req, ok: false, error: { code: e.code ?? 'HAIL_ERR_INTERNAL', message: e.message } })
        }
      })
    }
  }

  async subscribe (filters: string[]): Promise<boolean[]> {
    this.subscriptions.push(filters)
    return filters.map((f) => !this.refuse.has(f))
  }

  async unsubscribe (filters: string[]): Promise<void> {
    this.unsubscriptions.push(filters)
  }

  async close (): Promise<void> {
    this.closed = true
  }

  /** A server event on a topic, as JSON with `v: 2` added. */
  deliver (topic: string, event: unknown): void {
    const payload = typeof event === 'string' ? event : JSON.stringify({ v: 2, ...(event as object) })
    this.#emit('message', topic, new TextEncoder().encode(payload))
  }

  reply (event: unknown): void {
    this.deliver(`im/reply/${this.user}/${this.device}`, event)
  }

  sends (): Published[] {
    return this.published.filter((p) => p.topic.startsWith('im/send/'))
  }

  requests (method?: string): Published[] {
    return this.published.filter((p) => method === undefined ? p.topic.startsWith('im/cmd/') : p.topic === `im/cmd/${method}`)
  }

  #emit<K extends keyof TransportEvents> (event: K, ...args: TransportEvents[K]): void {
    for (const listener of this.#listeners[event] ?? []) listener(...args)
  }
}
