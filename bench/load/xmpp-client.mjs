// A lean XMPP client for load generation: raw stanzas over net, no library.
// It does what the chat cell needs and nothing else: SASL PLAIN (plain TCP on
// loopback: the bench's ejabberd listener has no TLS), resource binding,
// stream management (XEP-0198) and chat messages. Like RawClient, writes are
// corked and flushed once per tick; before the flush, a client that sent
// messages in this tick asks for an ack (`<r/>`), so each message is covered
// by the server's next `<a h='N'/>`, the XMPP counterpart of a PUBACK.
//
// The parser only splits the stream into top-level elements by counting tags:
// the server (ejabberd's fxml) escapes '<' and '>' in text and attribute
// values, and the bench's bodies are plain ASCII stamps.
import { EventEmitter } from 'node:events'
import { connect as netConnect } from 'node:net'
import { StringDecoder } from 'node:string_decoder'

const SM = 'urn:xmpp:sm:3'

/**
 * @typedef {object} XmppClientOptions
 * @property {number} port
 * @property {string} [host]
 * @property {string} domain the XMPP host name (ejabberd's `hosts`)
 * @property {string} user
 * @property {string} password
 * @property {string} [resource]
 * @property {number} [connectTimeoutMs]
 */

/** @param {string} s */
const escapeXml = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;')
/** @param {string} s */
const unescapeXml = (s) => s.indexOf('&') < 0 ? s : s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&apos;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&')

/** The value of attribute `name` in an element's start tag, or undefined. @param {string} el @param {string} name */
function attr (el, name) {
  const end = el.indexOf('>')
  const head = end < 0 ? el : el.slice(0, end)
  const m = new RegExp(`\\s${name}=(['"])([^'"]*)\\1`).exec(head)
  return m === null ? undefined : unescapeXml(m[2])
}

export class XmppClient extends EventEmitter {
  /** @param {XmppClientOptions} options */
  constructor (options) {
    super()
    this.options = options
    this.jid = `${options.user}@${options.domain}`
    /** @type {import('node:net').Socket | undefined} */
    this.socket = undefined
    this.decoder = new StringDecoder('utf8')
    this.buffer = ''
    /** Stanzas received since stream management was enabled (what our `<a h>` reports). */
    this.inbound = 0
    /** Stanzas sent since stream management was enabled (what the server's `<a h>` counts). */
    this.outbound = 0
    /** @type {{ index: number, done: () => void }[]} messages awaiting the server's ack, in order */
    this.unacked = []
    this.askAck = false
    this.corked = false
    this.closed = false
    this.nextId = 1
    /** @type {((el: string) => void) | undefined} the connect sequence's handler */
    this.step = undefined
    this.on('error', () => {}) // errors after connect show in the scenario's counts
  }

  /** Open the stream, authenticate, bind, enable stream management, send presence. @returns {Promise<void>} */
  connect () {
    const o = this.options
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port: o.port, host: o.host ?? '127.0.0.1' })
      socket.setNoDelay(true)
      this.socket = socket
      let settled = false
      const timer = setTimeout(() => fail(new Error(`XMPP connect timeout for ${this.jid}`)), o.connectTimeoutMs ?? 60_000)
      /** @param {Error} err */
      const fail = (err) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        socket.destroy()
        reject(err)
      }
      const open = () => this.#write(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${o.domain}' version='1.0'>`)
      let phase = 'auth'
      this.step = (el) => {
        if (el.startsWith('<stream:features')) {
          if (phase === 'auth') {
            if (!el.includes('<mechanism>PLAIN</mechanism>')) return fail(new Error(`no SASL PLAIN offered to ${this.jid}: ${el.slice(0, 300)}`))
            const token = Buffer.from(`\0${o.user}\0${o.password}`).toString('base64')
            this.#write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${token}</auth>`)
          } else {
            if (!el.includes(`xmlns='${SM}'`) && !el.includes(`xmlns="${SM}"`)) return fail(new Error(`no stream management (XEP-0198) offered to ${this.jid}`))
            this.#write(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${escapeXml(o.resource ?? 'bench')}</resource></bind></iq>`)
          }
        } else if (el.startsWith('<success')) {
          phase = 'bind'
          open() // a new stream after SASL (RFC 6120 6.4.6)
        } else if (el.startsWith('<failure')) {
          fail(new Error(`SASL failure for ${this.jid}: ${el.slice(0, 300)}`))
        } else if (el.startsWith('<iq') && attr(el, 'id') === 'bind') {
          if (attr(el, 'type') !== 'result') return fail(new Error(`bind refused for ${this.jid}: ${el.slice(0, 300)}`))
          this.#write(`<enable xmlns='${SM}'/>`)
        } else if (el.startsWith('<enabled')) {
          this.step = undefined
          settled = true
          clearTimeout(timer)
          // Available presence: without it the server keeps messages to our bare JID offline.
          this.#send('<presence/>')
          resolve()
        } else if (el.startsWith('<stream:error')) {
          fail(new Error(`stream error for ${this.jid}: ${el.slice(0, 300)}`))
        }
      }
      socket.on('data', (chunk) => this.#onData(chunk))
      socket.on('error', (err) => { if (!settled) fail(err); else this.emit('error', err) })
      socket.on('close', () => {
        this.closed = true
        if (!settled) fail(new Error(`socket closed while connecting ${this.jid}`))
        this.emit('close')
      })
      this.#write("<?xml version='1.0'?>")
      open()
    })
  }

  /**
   * Send a chat message to a bare JID; `onAck` runs when the server's stream
   * management ack covers it.
   * @param {string} to @param {string} body @param {() => void} [onAck]
   */
  sendMessage (to, body, onAck) {
    const index = this.#send(`<message to='${to}' type='chat' id='m${this.nextId++}'><body>${escapeXml(body)}</body></message>`)
    this.unacked.push({ index, done: onAck ?? (() => {}) })
    this.askAck = true
  }

  /** A stanza (counted by stream management). @param {string} xml @returns {number} its index */
  #send (xml) {
    this.#write(xml)
    return ++this.outbound
  }

  /** @param {string} xml */
  #write (xml) {
    const socket = this.socket
    if (socket === undefined || socket.destroyed) return
    if (!this.corked) {
      this.corked = true
      socket.cork()
      process.nextTick(() => {
        this.corked = false
        if (this.askAck) {
          this.askAck = false
          socket.write(`<r xmlns='${SM}'/>`)
        }
        socket.uncork()
      })
    }
    socket.write(xml)
  }

  /** @param {Buffer} chunk */
  #onData (chunk) {
    const s = this.buffer + this.decoder.write(chunk)
    let i = 0
    for (;;) {
      const lt = s.indexOf('<', i)
      if (lt < 0) { i = s.length; break }
      const c = s.charCodeAt(lt + 1)
      if (c === 63 /* ? */) { // the XML declaration
        const e = s.indexOf('?>', lt)
        if (e < 0) { i = lt; break }
        i = e + 2
        continue
      }
      if (s.startsWith('<stream:stream', lt)) { // the stream header stays open
        const e = s.indexOf('>', lt)
        if (e < 0) { i = lt; break }
        i = e + 1
        continue
      }
      if (s.startsWith('</stream:stream', lt)) {
        this.socket?.end()
        i = s.length
        break
      }
      const end = elementEnd(s, lt)
      if (end < 0) { i = lt; break }
      this.#onElement(s.slice(lt, end))
      i = end
    }
    this.buffer = s.slice(i)
  }

  /** @param {string} el a complete top-level element */
  #onElement (el) {
    if (this.step !== undefined) return this.step(el)
    if (el.startsWith('<message')) {
      this.inbound++
      const b = el.indexOf('<body>')
      if (b < 0) return
      const e = el.indexOf('</body>', b)
      this.emit('message', unescapeXml(el.slice(b + 6, e)), attr(el, 'from'))
    } else if (el.startsWith('<a ') || el.startsWith('<a/')) {
      const h = Number(attr(el, 'h'))
      let n = 0
      while (n < this.unacked.length && this.unacked[n].index <= h) n++
      const done = this.unacked.splice(0, n)
      for (const d of done) d.done()
    } else if (el.startsWith('<r ') || el.startsWith('<r/')) {
      this.#write(`<a xmlns='${SM}' h='${this.inbound}'/>`)
    } else if (el.startsWith('<iq') || el.startsWith('<presence')) {
      this.inbound++
    } else if (el.startsWith('<stream:error')) {
      this.emit('error', new Error(`stream error for ${this.jid}: ${el.slice(0, 300)}`))
    }
  }

  /** Close the stream and wait for the socket to close. @returns {Promise<void>} */
  end () {
    return new Promise((resolve) => {
      const socket = this.socket
      if (socket === undefined || this.closed) return resolve()
      socket.once('close', () => resolve())
      this.#write('</stream:stream>')
      setImmediate(() => socket.end())
      setTimeout(() => socket.destroy(), 5000).unref()
    })
  }

  destroy () {
    this.socket?.destroy()
  }
}

/**
 * Where the element starting at `start` ends (index after its last '>'), or -1
 * while it is incomplete. Counts start and end tags; text holds no '<'.
 * @param {string} s @param {number} start
 */
function elementEnd (s, start) {
  let depth = 0
  let i = start
  for (;;) {
    const lt = s.indexOf('<', i)
    if (lt < 0) return -1
    const gt = s.indexOf('>', lt)
    if (gt < 0) return -1
    if (s.charCodeAt(lt + 1) === 47 /* / */) depth--
    else if (s.charCodeAt(gt - 1) !== 47) depth++
    i = gt + 1
    if (depth === 0) return i
  }
}
