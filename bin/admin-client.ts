import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { ADMIN_SOCKET, AdminError, DataDirBusyError, HailError, runOfflineAdminOp, runRedisAdminOp, withShortSocketPath, type AdminOp, type AdminResponse } from '../index.js'

/** How long a running daemon may take to answer; an op is one scrypt hash and one synced write. */
const ANSWER_TIMEOUT = 30_000
/** How long to keep asking a daemon that holds the lock but has no socket yet (it is starting). */
const STARTING_GRACE = 5_000

/**
 * Run an admin op on the shared Redis when one is configured, else on a
 * data directory: through the admin socket of the
 * daemon that holds it, or, when none answers there, by opening it here.
 * Errors come back as HailErrors with the code the store gave them (a
 * daemon's are rebuilt from its answer), so the CLI reports both alike.
 */
export async function adminRequest (where: { dataDir: string, redis: string | null }, op: AdminOp, args: Record<string, unknown>, timeoutMs = ANSWER_TIMEOUT): Promise<unknown> {
  // Nodes on one Redis share its users: write there directly.
  if (where.redis !== null) return await runRedisAdminOp(where.redis, op, args)
  const { dataDir } = where
  const socketPath = join(dataDir, ADMIN_SOCKET)
  const deadline = Date.now() + STARTING_GRACE
  for (;;) {
    const answer = await askDaemon(socketPath, op, args, timeoutMs)
    if (answer !== undefined) return unwrap(answer)
    try {
      return await runOfflineAdminOp(dataDir, op, args, { create: op === 'user.add' })
    } catch (err) {
      // Locked, yet nobody answered: a daemon between opening its store and its socket, or one that is stopping.
      if (!(err instanceof DataDirBusyError)) throw err
      if (Date.now() > deadline) {
        throw new DataDirBusyError(`${err.message}, which does not answer on ${socketPath}`, { cause: err })
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

/** The daemon's answer; undefined when no daemon listens on the socket (no file, or a stale one). */
async function askDaemon (path: string, op: AdminOp, args: Record<string, unknown>, timeoutMs: number): Promise<AdminResponse | undefined> {
  const socket = await withShortSocketPath(path, (usable) => new Promise<Socket | undefined>((resolve, reject) => {
    const socket = connect(usable)
    socket.once('connect', () => {
      socket.off('error', onError)
      resolve(socket)
    })
    const onError = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(undefined)
      else reject(new AdminError(`admin socket ${path}: ${err.code ?? err.message}`, { cause: err }))
    }
    socket.once('error', onError)
  }))
  if (socket === undefined) return undefined
  return await new Promise((resolve, reject) => {
    let buffered = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new AdminError(`the daemon did not answer on ${path} within ${timeoutMs / 1000} s`))
    }, timeoutMs)
    const done = (fn: () => void): void => {
      clearTimeout(timer)
      socket.destroy()
      fn()
    }
    socket.write(JSON.stringify({ id: 1, op, args }) + '\n')
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      buffered += chunk
      const newline = buffered.indexOf('\n')
      if (newline < 0) return
      try {
        const answer = JSON.parse(buffered.slice(0, newline)) as AdminResponse
        done(() => resolve(answer))
      } catch (err) {
        done(() => reject(new AdminError(`the daemon's answer on ${path} is not JSON`, { cause: err })))
      }
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      done(() => reject(new AdminError(`admin socket ${path}: ${err.code ?? err.message}`, { cause: err })))
    })
    socket.on('close', () => done(() => reject(new AdminError(`the daemon closed ${path} without answering (is it stopping?)`))))
  })
}

function unwrap (answer: AdminResponse): unknown {
  if (answer.ok) return answer.result
  throw new HailError(answer.error.code, answer.error.message)
}
