import net from 'node:net'

/**
 * A TCP proxy on loopback in front of a server, whose connections a test
 * can cut: `cut()` destroys every connection through it and refuses new
 * ones (as a network that went away), `restore()` lets them in again. A
 * page loaded through it has its MQTT WebSocket cut for real, without the
 * page knowing anything of the test.
 */
export class CutProxy {
  readonly #server: net.Server
  readonly #sockets = new Set<net.Socket>()
  #open = true
  port = 0

  private constructor (target: { host: string, port: number }) {
    this.#server = net.createServer((client) => {
      if (!this.#open) return client.destroy()
      const upstream = net.connect(target.port, target.host)
      for (const s of [client, upstream]) {
        this.#sockets.add(s)
        s.on('close', () => this.#sockets.delete(s))
        s.on('error', () => { client.destroy(); upstream.destroy() })
      }
      client.pipe(upstream).pipe(client)
    })
  }

  static async start (target: { host: string, port: number }): Promise<CutProxy> {
    const proxy = new CutProxy(target)
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve))
    proxy.port = (proxy.#server.address() as net.AddressInfo).port
    return proxy
  }

  cut (): void {
    this.#open = false
    for (const s of this.#sockets) s.destroy()
  }

  restore (): void {
    this.#open = true
  }

  async close (): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}
