import { chmod, lstat, unlink } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import pino, { type Logger } from 'pino'
import { HailError, ListenError } from '../errors.js'
import { runAdminOp, type AdminContext } from './admin-ops.js'
import { withShortSocketPath } from './short-socket-path.js'

export interface AdminServerOptions extends AdminContext {
  /** Path of the Unix socket, `<dataDir>/admin.sock`. */
  path: string
  logger?: Logger
}

/** A request: one JSON object per line. */
export interface AdminRequest {
  id: string | number
  op: string
  args?: unknown
}

/** The answer, one line, with the request's id. */
export type AdminResponse =
  | { id: string | number | null, ok: true, result: unknown }
  | { id: string | number | null, ok: false, error: { code: string, message: string } }

/** Longest request line; the largest real one (a 1 KiB password) is far below. */
const MAX_LINE = 64 * 1024

/**
 * The admin channel of a running server, so `hail user add` works while the
 * daemon holds the data directory's lock: newline-delimited JSON on a Unix
 * socket, readable and writable by the daemon's user only (mode 0600, in a
 * data directory Hail creates 0700). Requests `{id, op, args}` are answered
 * `{id, ok: true, result}` or `{id, ok: false, error: {code, message}}`, in
 * order, per connection.
 */
export class AdminServer {
  readonly path: string
  readonly #context: AdminContext
  readonly #log: Logger
  readonly #sockets = new Set<Socket>()
  /** Ops under way, which close() lets finish so none writes to a closed store. */
  readonly #running = new Set<Promise<void>>()
  #server: Server | undefined

  constructor (options: AdminServerOptions) {
    const { path, logger, ...context } = options
    this.path = path
    this.#context = context
    this.#log = logger ?? pino({ level: 'silent' })
  }

  /**
   * Listen on the socket. A socket file already there is stale (a daemon that
   * was killed): whoever calls this holds the data directory's lock.
   */
  async listen (): Promise<void> {
    await removeStaleSocket(this.path)
    const server = createServer((socket) => this.#serve(socket))
    this.#server = server
    try {
      await withShortSocketPath(this.path, (usable) => new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(usable, () => {
          server.off('error', reject)
          resolve()
        })
      }))
      await chmod(this.path, 0o600)
    } catch (err) {
      await this.close()
      throw new ListenError(`cannot listen on admin socket ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
    }
    server.on('error', (err) => this.#log.error({ err }, 'admin socket error'))
  }

  /** Stop accepting, drop open connections, let ops under way finish and remove the socket file. */
  async close (): Promise<void> {
    const server = this.#server
    if (server === undefined) return
    this.#server = undefined
    for (const socket of this.#sockets) socket.destroy()
    await Promise.all(this.#running)
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
    // libuv unlinks the path it bound, which was a symlinked one for a deep data directory.
    await unlink(this.path).catch(() => {})
  }

  #serve (socket: Socket): void {
    this.#sockets.add(socket)
    socket.on('close', () => this.#sockets.delete(socket))
    socket.on('error', (err) => this.#log.debug({ err: err.message }, 'admin connection error'))
    let buffered = ''
    let queue = Promise.resolve()
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      buffered += chunk
      let newline: number
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        if (line.trim() === '') continue
        queue = queue.then(async () => {
          if (socket.destroyed) return // closed meanwhile: nobody to answer
          const op = this.#answer(socket, line)
          this.#running.add(op)
          await op
          this.#running.delete(op)
        })
      }
      if (buffered.length > MAX_LINE) {
        write(socket, failure(null, 'HAIL_ERR_ADMIN', `request longer than ${MAX_LINE} bytes`))
        socket.end()
        buffered = ''
      }
    })
  }

  async #answer (socket: Socket, line: string): Promise<void> {
    let request: Partial<AdminRequest>
    try {
      request = JSON.parse(line) as Partial<AdminRequest>
    } catch {
      return write(socket, failure(null, 'HAIL_ERR_ADMIN', 'a request is one JSON object per line'))
    }
    const id = typeof request?.id === 'string' || typeof request?.id === 'number' ? request.id : null
    if (id === null || typeof request.op !== 'string') {
      return write(socket, failure(id, 'HAIL_ERR_ADMIN', 'a request is {"id": string or number, "op": string, "args": object}'))
    }
    try {
      const result = await runAdminOp(this.#context, request.op, request.args)
      this.#log.info({ op: request.op, ...subject(request.args) }, 'admin op done')
      write(socket, { id, ok: true, result })
    } catch (err) {
      if (err instanceof HailError) {
        this.#log.info({ op: request.op, code: err.code, ...subject(request.args) }, 'admin op refused')
        return write(socket, failure(id, err.code, err.message))
      }
      this.#log.error({ err, op: request.op }, 'admin op failed')
      write(socket, failure(id, 'HAIL_ERR_ADMIN', `${request.op} failed: ${(err as Error).message}`))
    }
  }
}

async function removeStaleSocket (path: string): Promise<void> {
  let stat
  try {
    stat = await lstat(path)
  } catch {
    return
  }
  if (!stat.isSocket()) throw new ListenError(`${path} exists and is not a socket: move it away so the admin socket can take its place`)
  await unlink(path)
}

function failure (id: string | number | null, code: string, message: string): AdminResponse {
  return { id, ok: false, error: { code, message } }
}

function write (socket: Socket, response: AdminResponse): void {
  if (!socket.destroyed) socket.write(JSON.stringify(response) + '\n')
}

/** Who an op was about, for the log; never the password. */
function subject (args: unknown): { user?: unknown } {
  const a = args as { name?: unknown, user?: unknown } | null | undefined
  return { user: a?.name ?? a?.user }
}
