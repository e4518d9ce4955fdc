import http from 'node:http'
import https from 'node:https'
import type { Duplex } from 'node:stream'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { ConnectionSet } from './connection-set.js'
import { listenOn, type BoundAddress } from './listen-on.js'

export type HttpRoute = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>
export type WebSocketHandler = (stream: Duplex, req: http.IncomingMessage) => void

export interface HttpListenerOptions {
  host: string
  port: number
  tls?: { cert: Buffer, key: Buffer }
  /** Plain HTTP routes by exact path (e.g. /healthz, /metrics), or `/dir/*` for any one name under /dir/. */
  routes: ReadonlyMap<string, HttpRoute>
  /** MQTT over WebSocket, served at /mqtt. */
  handleMqtt: WebSocketHandler
  /** Largest WebSocket message accepted; a bigger one closes the socket before it is buffered. */
  maxPayload: number
  onConnection?: (transport: 'ws' | 'wss') => void
  /** Each answered request: its route (the path, or the `/dir/*` pattern it matched; `404` for none) and status. */
  onRequest?: (route: string, status: number) => void
}

const MQTT_PATH = '/mqtt'
// Browsers send these WebSocket subprotocols for MQTT 3.1.1 and 3.1.
const MQTT_SUBPROTOCOLS = ['mqtt', 'mqttv3.1']

/** HTTP(S): routes, and MQTT over WebSocket at /mqtt. */
export class HttpListener {
  readonly connections = new ConnectionSet()
  readonly #server: http.Server
  readonly #wss: WebSocketServer
  readonly #options: HttpListenerOptions

  constructor (options: HttpListenerOptions) {
    this.#options = options
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      this.#route(req, res)
    }
    this.#server = options.tls
      ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, onRequest)
      : http.createServer(onRequest)
    this.#server.on('connection', (socket) => {
      socket.setNoDelay(true)
      this.connections.add(socket)
    })
    this.#server.on('tlsClientError', (_err: Error, socket: Duplex) => socket.destroy())
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxPayload,
      handleProtocols: (protocols) => MQTT_SUBPROTOCOLS.find((p) => protocols.has(p)) ?? false
    })
    this.#server.on('upgrade', (req, socket, head) => {
      if (pathOf(req) !== MQTT_PATH) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n')
        return
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        options.onConnection?.(options.tls ? 'wss' : 'ws')
        const stream = createWebSocketStream(ws)
        // A WebSocket protocol error is that client's problem; end its stream only.
        stream.on('error', () => stream.destroy())
        options.handleMqtt(stream, req)
      })
    })
  }

  listen (): Promise<BoundAddress> {
    return listenOn(this.#server, this.#options.host, this.#options.port)
  }

  /**
   * Serve a new certificate and key (a renewed certificate, on reload) to
   * the connections made from now on; those already open keep theirs.
   */
  setTls (files: { cert: Buffer, key: Buffer }): void {
    if (this.#server instanceof https.Server) this.#server.setSecureContext(files)
  }

  stop (): Promise<void> {
    return new Promise((resolve) => {
      for (const ws of this.#wss.clients) ws.terminate()
      this.#wss.close()
      if (!this.#server.listening) return resolve()
      this.#server.close(() => resolve())
      // Idle keep-alive connections would hold close() open.
      this.#server.closeIdleConnections()
    })
  }

  #route (req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = pathOf(req)
    const pattern = `${path.slice(0, path.lastIndexOf('/'))}/*`
    const exact = this.#options.routes.get(path)
    const route = exact ?? this.#options.routes.get(pattern)
    const onRequest = this.#options.onRequest
    if (onRequest !== undefined) res.once('finish', () => onRequest(route === undefined ? '404' : exact !== undefined ? path : pattern, res.statusCode))
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    Promise.resolve(route(req, res)).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(`internal error: ${err instanceof Error ? err.message : String(err)}\n`)
    })
  }
}

function pathOf (req: http.IncomingMessage): string {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}
