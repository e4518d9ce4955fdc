// A RawClient that comes back after the broker dies (the crash cells): it
// reconnects every retryMs with the same client id, runs `onConnect` (a
// subscribe, when the broker kept no session), and resends every QoS 1
// publish not yet acknowledged, as mqtt.js does with its outgoing store.
// `onAck` runs once per publish, at the first PUBACK that covers it.
import { EventEmitter } from 'node:events'
import { RawClient } from './raw-client.mjs'
import { sleep } from './recorder.mjs'

/**
 * @typedef {object} ReconnectingOptions
 * @property {import('./raw-client.mjs').RawClientOptions} client
 * @property {number} [retryMs] between connection attempts (default 50)
 * @property {(client: RawClient, sessionPresent: boolean) => Promise<void>} [onConnect] before the resends
 */

export class ReconnectingClient extends EventEmitter {
  /** @param {ReconnectingOptions} o */
  constructor (o) {
    super()
    this.o = o
    /** @type {RawClient | undefined} */
    this.client = undefined
    this.connected = false
    this.closing = false
    /** connections made after the first */
    this.reconnects = 0
    /** connections whose CONNACK said the broker kept no session (clean false) */
    this.sessionsLost = 0
    /** publishes sent again on a new connection */
    this.resent = 0
    this.nextKey = 1
    /** @type {Map<number, { topic: string, payload: Buffer | string, onAck: () => void }>} unacknowledged publishes */
    this.inflight = new Map()
    this.on('error', () => {})
  }

  /** The first connection; later ones follow by themselves. */
  async connect () {
    await this.#open(false)
  }

  /** @param {boolean} again */
  async #open (again) {
    const client = new RawClient(this.o.client)
    // Before the CONNACK: a resumed session's queued publishes can come in the CONNACK's own
    // TCP segment, parsed (and PUBACKed by RawClient) before connect() resolves.
    client.on('message', (topic, payload, packet) => this.emit('message', topic, payload, packet))
    const { sessionPresent } = await client.connect()
    this.client = client
    if (again) this.reconnects++
    if (again && this.o.client.clean === false && !sessionPresent) this.sessionsLost++
    client.once('close', () => {
      if (this.client !== client) return
      this.connected = false
      this.emit('down')
      if (!this.closing) void this.#reconnect()
    })
    if (this.o.onConnect !== undefined) {
      // A kill during onConnect (a SUBACK that never comes): the close above reconnects.
      const closed = new Promise((resolve) => client.once('close', resolve))
      try {
        await Promise.race([this.o.onConnect(client, sessionPresent), closed])
      } catch (err) {
        client.destroy()
        if (!again) throw err
        return
      }
    }
    if (client.closed) return
    this.connected = true
    for (const [key, m] of this.inflight) {
      if (again) this.resent++
      this.#send(client, key, m)
    }
    this.emit('up', again)
  }

  async #reconnect () {
    while (!this.closing) {
      await sleep(this.o.retryMs ?? 50)
      try {
        await this.#open(true)
        return
      } catch {
        // refused or reset while the broker restarts: try again
      }
    }
  }

  /** @param {RawClient} client @param {number} key @param {{ topic: string, payload: Buffer | string, onAck: () => void }} m */
  #send (client, key, m) {
    client.publish(m.topic, m.payload, 1, () => {
      if (this.inflight.delete(key)) m.onAck()
    })
  }

  /** QoS 1 publish, kept until acknowledged. @param {string} topic @param {Buffer | string} payload @param {() => void} onAck */
  publish (topic, payload, onAck) {
    const key = this.nextKey++
    const m = { topic, payload, onAck }
    this.inflight.set(key, m)
    if (this.connected && this.client !== undefined) this.#send(this.client, key, m)
  }

  /** A QoS 1 publish that is not kept (requests answered elsewhere). @param {string} topic @param {Buffer | string} payload */
  request (topic, payload) {
    if (this.connected) this.client?.publish(topic, payload, 1)
  }

  /** Disconnect (DISCONNECT, so the broker keeps a clean false session) and connect again at once. */
  async cycle () {
    const old = this.client
    this.client = undefined
    this.connected = false
    await old?.end()
    for (;;) {
      try {
        await this.#open(true)
        return
      } catch {
        await sleep(this.o.retryMs ?? 50)
      }
    }
  }

  async end () {
    this.closing = true
    await this.client?.end()
  }

  destroy () {
    this.closing = true
    this.client?.destroy()
  }
}
