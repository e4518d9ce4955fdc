import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from './wait-for.js'

/** A free TCP port on loopback (the kernel picks it; closed before use). */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface RedisServerOptions {
  /** AOF with `appendfsync always` (the setting Hail's durability promise needs); default true. */
  appendfsyncAlways?: boolean
  /** Keep this port (for a restart); default a free one. */
  port?: number
  /** Keep this directory (for a restart); default a fresh temporary one. */
  dir?: string
}

/**
 * A real `redis-server` in a child process, on loopback, a temporary port and
 * a temporary directory; test/run.sh installs Debian's redis-server.
 */
export class RedisServer {
  readonly port: number
  readonly dir: string
  readonly #options: RedisServerOptions
  #child: ChildProcess | undefined
  #exit: Promise<unknown> | undefined
  readonly #ownsDir: boolean

  private constructor (port: number, dir: string, ownsDir: boolean, options: RedisServerOptions) {
    this.port = port
    this.dir = dir
    this.#ownsDir = ownsDir
    this.#options = options
  }

  static async start (options: RedisServerOptions = {}): Promise<RedisServer> {
    const port = options.port ?? await freePort()
    const dir = options.dir ?? await mkdtemp(join(tmpdir(), 'hail-redis-'))
    const server = new RedisServer(port, dir, options.dir === undefined, options)
    await server.#spawn()
    return server
  }

  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async #spawn (): Promise<void> {
    const always = this.#options.appendfsyncAlways ?? true
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--save', '', '--daemonize', 'no', '--protected-mode', 'yes',
      '--appendonly', always ? 'yes' : 'no'
    ]
    if (always) args.push('--appendfsync', 'always')
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    this.#exit = once(child, 'exit')
    // A test process that dies (tap's timeout, an uncaught error) must not leave redis-server behind.
    const reap = (): void => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }
    process.once('exit', reap)
    child.once('exit', () => process.removeListener('exit', reap))
    let output = ''
    child.stdout!.on('data', (d: Buffer) => { output += d.toString() })
    child.stderr!.on('data', (d: Buffer) => { output += d.toString() })
    await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}:\n${output}`)
      return /Ready to accept connections/.test(output)
    }, 'redis-server to start', 20_000)
  }

  /** Stop it now (SIGKILL): a crash, or the first half of an outage. */
  async kill (): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
    await this.#exit
  }

  /** Start it again on the same port and directory (after kill()). */
  async restart (): Promise<void> {
    await this.kill()
    await this.#spawn()
  }

  /** Stop it and remove its directory (when this helper created it). */
  async stop (): Promise<void> {
    const child = this.#child
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await this.#exit
    }
    if (this.#ownsDir) await rm(this.dir, { recursive: true, force: true })
  }
}
