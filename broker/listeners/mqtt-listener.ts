import net from 'node:net'
import tls from 'node:tls'
import type { Duplex } from 'node:stream'
import { ConnectionSet } from './connection-set.js'
import { corkPerTurn } from '../wire/turn-cork.js'
import { listenOn, type BoundAddress } from './listen-on.js'

export type ConnectionHandler = (conn: Duplex) => void

export interface MqttListenerOptions {
  host: string
  port: number
  /** Certificate and key as PEM contents; present for MQTT over TLS. */
  tls?: { cert: Buffer, key: Buffer }
  handle: ConnectionHandler
  onConnection?: (transport: 'tcp' | 'tls') => void
}

/** MQTT over TCP or TLS: one raw stream per client, handed to the broker. */
export class MqttListener {
  readonly connections = new ConnectionSet()
  readonly #server: net.Server
  readonly #options: MqttListenerOptions

  constructor (options: MqttListenerOptions) {
    this.#options = options
    const onSocket = (socket: net.Socket): void => {
      // Small packets (PUBACK, PINGRESP) must not wait for Nagle's timer.
      socket.setNoDelay(true)
      // ...and what the broker sends in one turn goes out in one write
      corkPerTurn(socket)
      this.connections.add(socket)
      options.onConnection?.(options.tls ? 'tls' : 'tcp')
      options.handle(socket)
    }
    this.#server = options.tls
      ? tls.createServer({ cert: options.tls.cert, key: options.tls.key }, onSocket)
      : net.createServer(onSocket)
    // A TLS handshake failure concerns that one client only.
    this.#server.on('tlsClientError', (_err: Error, socket: Duplex) => socket.destroy())
  }

  listen (): Promise<BoundAddress> {
    return listenOn(this.#server, this.#options.host, this.#options.port)
  }

  /**
   * Serve a new certificate and key (a renewed certificate, on reload) to
   * the connections made from now on; those already open keep theirs.
   */
  setTls (files: { cert: Buffer, key: Buffer }): void {
    if (this.#server instanceof tls.Server) this.#server.setSecureContext(files)
  }

  /** Stop accepting; existing connections stay until the broker closes them. */
  stop (): Promise<void> {
    // Not close()'s callback: it waits for every connection to end, and the
    // broker closes them only after this resolves, so it would never come.
    if (this.#server.listening) this.#server.close()
    return Promise.resolve()
  }
}
