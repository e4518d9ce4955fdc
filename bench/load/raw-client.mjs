// A lean MQTT 3.1.1 client for load generation: mqtt-packet over net, no
// reconnect, no store, no timers beyond the connect deadline. Writes are corked
// and flushed once per tick, so a burst of publishes costs one syscall.
import { EventEmitter } from 'node:events'
import { connect as netConnect } from 'node:net'
import mqttPacket from 'mqtt-packet'

/**
 * @typedef {object} RawClientOptions
 * @property {number} port
 * @property {string} [host]
 * @property {string} clientId
 * @property {boolean} [clean]
 * @property {string} [username]
 * @property {string} [password]
 * @property {number} [keepalive] seconds; 0 = none (the default: no pings to send)
 * @property {number} [connectTimeoutMs]
 */

/** @typedef {{ topic: string, payload: Buffer, qos: number, messageId?: number, dup?: boolean }} Incoming */

export class RawClient extends EventEmitter {
  /** @param {RawClientOptions} options */
  constructor (options) {
    super()
    this.options = options
    /** @type {import('node:net').Socket | undefined} */
    this.socket = undefined
    this.nextId = 1
    /** @type {Map<number, (packet: any) => void>} QoS 1 publishes and subscribes awaiting their ack */
    this.pending = new Map()
    this.corked = false
    this.closed = false
    // Errors after CONNACK show in the scenario's counts (a closed client stops sending).
    this.on('error', () => {})
  }

  /** Connect and wait for CONNACK; rejects on refusal, socket error or timeout. @returns {Promise<{sessionPresent: boolean}>} */
  connect () {
    const o = this.options
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port: o.port, host: o.host ?? '127.0.0.1' })
      socket.setNoDelay(true)
      this.socket = socket
      const parser = mqttPacket.parser({ protocolVersion: 4 })
      let settled = false
      const timer = setTimeout(() => fail(new Error(`connect timeout for ${o.clientId}`)), o.connectTimeoutMs ?? 60_000)
      /** @param {Error} err */
      const fail = (err) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        socket.destroy()
        reject(err)
      }
      parser.on('packet', (packet) => {
        if (!settled) {
          if (packet.cmd !== 'connack') return fail(new Error(`expected connack, got ${packet.cmd}`))
          settled = true
          clearTimeout(timer)
          if (packet.returnCode !== 0) {
            socket.destroy()
            return reject(new Error(`CONNACK ${packet.returnCode} for ${o.clientId}`))
          }
          return resolve({ sessionPresent: packet.sessionPresent })
        }
        this.#onPacket(packet)
      })
      parser.on('error', (err) => { this.emit('error', err); socket.destroy() })
      socket.on('data', (chunk) => parser.parse(chunk))
      socket.on('error', (err) => { if (!settled) fail(err); else this.emit('error', err) })
      socket.on('close', () => {
        this.closed = true
        if (!settled) fail(new Error(`socket closed before CONNACK for ${o.clientId}`))
        this.emit('close')
      })
      this.#write({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: o.clean ?? true,
        clientId: o.clientId,
        keepalive: o.keepalive ?? 0,
        ...(o.username === undefined ? {} : { username: o.username }),
        ...(o.password === undefined ? {} : { password: Buffer.from(o.password) })
      })
    })
  }

  /** @param {any} packet */
  #onPacket (packet) {
    switch (packet.cmd) {
      case 'publish':
        if (packet.qos === 1) this.#write({ cmd: 'puback', messageId: packet.messageId })
        else if (packet.qos === 2) this.#write({ cmd: 'pubrec', messageId: packet.messageId })
        this.emit('message', packet.topic, packet.payload, packet)
        break
      case 'pubrel':
        this.#write({ cmd: 'pubcomp', messageId: packet.messageId })
        break
      case 'puback':
      case 'suback': {
        const done = this.pending.get(packet.messageId)
        if (done !== undefined) {
          this.pending.delete(packet.messageId)
          done(packet)
        }
        break
      }
      default:
        break
    }
  }

  #id () {
    do {
      this.nextId = this.nextId >= 65535 ? 1 : this.nextId + 1
    } while (this.pending.has(this.nextId))
    return this.nextId
  }

  /** @param {object} packet */
  #write (packet) {
    const socket = this.socket
    if (socket === undefined || socket.destroyed) return
    if (!this.corked) {
      this.corked = true
      socket.cork()
      process.nextTick(() => { this.corked = false; socket.uncork() })
    }
    socket.write(mqttPacket.generate(/** @type {any} */ (packet)))
  }

  /**
   * Publish; with QoS 1 `onAck` runs at PUBACK.
   * @param {string} topic @param {Buffer | string} payload @param {0 | 1} qos @param {() => void} [onAck]
   */
  publish (topic, payload, qos, onAck) {
    if (qos === 0) {
      this.#write({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false })
      return
    }
    const messageId = this.#id()
    this.pending.set(messageId, () => onAck?.())
    this.#write({ cmd: 'publish', topic, payload, qos: 1, messageId, retain: false, dup: false })
  }

  /** @param {string[]} topics @param {0 | 1} qos @param {number} [timeoutMs] @returns {Promise<number[]>} granted QoS per filter */
  subscribe (topics, qos, timeoutMs = 60_000) {
    return new Promise((resolve, reject) => {
      const messageId = this.#id()
      const timer = setTimeout(() => {
        this.pending.delete(messageId)
        reject(new Error(`no SUBACK within ${timeoutMs / 1000} s for ${this.options.clientId} (${topics.join(', ')})`))
      }, timeoutMs)
      this.pending.set(messageId, (packet) => { clearTimeout(timer); resolve(packet.granted) })
      this.#write({ cmd: 'subscribe', messageId, subscriptions: topics.map((topic) => ({ topic, qos })) })
    })
  }

  /** Send DISCONNECT and wait for the socket to close. @returns {Promise<void>} */
  end () {
    return new Promise((resolve) => {
      const socket = this.socket
      if (socket === undefined || this.closed) return resolve()
      socket.once('close', () => resolve())
      this.#write({ cmd: 'disconnect' })
      setImmediate(() => socket.end())
      setTimeout(() => socket.destroy(), 5000).unref()
    })
  }

  destroy () {
    this.socket?.destroy()
  }
}
